"""IPPO members acting and learning from their rollouts as stacks.

:class:`StackedPPO` stacks every member's actors (with the Box log standard deviation as an extra
parameter, trained by the actor's optimizer as on its own) and critics, acts for all members with one
forward per parameter-sharing group, and runs the PPO epochs of every member whose rollout is full at
once: round ``r`` is the ``r``-th minibatch update of each of them, through :meth:`IPPO.ppo_loss` with
their hyperparameters as tensors ``[S]``. Each member shuffles its rollout with its own RNG, stops on its
own ``target_kl`` and clips its own gradient norm, exactly as :meth:`IPPO.learn` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from evo_marl.algorithms.ippo import IPPO, PPO_STATS, PolicyStep, PPOHparams, PPOMinibatch
from evo_marl.buffers.rollout import RolloutBatch, RolloutBuffer
from evo_marl.population.network import BoundNetwork, StackedNetwork, optimize
from evo_marl.population.noise import StackedNoise
from evo_marl.population.off_policy import check_uniform, optimizer_of
from evo_marl.population.precision import hidden_dtype
from evo_marl.population.stack import StackEntry
from evo_marl.population.transfer import index_tensor, to_device


class StackedPPO:
    """Acting and learning of an IPPO population as stacks (see the module docstring).

    Args:
        population: the members (IPPO, equal agents and spaces). grouping: as :class:`StackedNetwork`.
        precision: of learning, ``"float32"`` or ``"bfloat16"`` (:mod:`evo_marl.population.precision`).
    """

    def __init__(self, population: list, grouping: str = "auto", precision: str = "float32"):
        check_uniform(population, IPPO)
        self.population, self.template = population, population[0]
        device = self.device = self.template.device
        self.hidden_dtype = hidden_dtype(precision, device)
        self.nets: dict[str, StackedNetwork] = {}
        for name in self.template.networks:
            group = name.split("/", 1)[1]
            entries = [StackEntry(m.networks[name], [m.log_stds[group]] if name.startswith("actor/") and
                                  group in m.log_stds else [], None, optimizer_of(m, name)) for m in population]
            self.nets[name] = StackedNetwork(entries, grouping, device)
        self.generators = [m.torch_gen for m in population]

        def column(name: str, dtype=torch.float32) -> Tensor:
            return torch.tensor([getattr(m, name) for m in population], dtype=dtype, device=device)

        self.hparams = PPOHparams(column("clip_coef"), column("ent_coef"), column("vf_coef"),
                                  column("clip_vloss", torch.bool), column("normalize_advantages", torch.bool))
        self.max_norm = torch.tensor([float("inf") if m.max_grad_norm is None else m.max_grad_norm
                                      for m in population], device=device)

    def _bind(self, sel: Sequence[int], train: bool = False) -> tuple[dict[str, BoundNetwork], dict[str, Tensor]]:
        dtype = self.hidden_dtype if train else None  # learning precision for the PPO updates, acting in float32
        nets = {name: net.bind(sel, train=train, hidden_dtype=dtype) for name, net in self.nets.items()}
        log_stds = {g: nets[f"actor/{g}"].extra(0) for g in self.template.log_stds}
        return nets, log_stds

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, sel: Sequence[int], obs: dict[str, np.ndarray], infos: dict | None = None) -> list[PolicyStep]:
        """What each member of ``sel`` would ``act`` on its rows of ``obs`` (``agent -> [S * E, ...]``, member-major)."""
        template, size = self.template, len(sel)
        group_obs = template.group_obs(obs)
        rows = next(iter(group_obs.values())).shape[0]
        envs = rows // size
        masks = template._group_masks(infos, rows)
        nets, log_stds = self._bind(sel)
        noise = StackedNoise([self.generators[k] for k in sel], self.device)
        log_probs = np.zeros((rows, len(template.agent_ids)), np.float32)
        values = np.zeros_like(log_probs)
        env_actions, raw_actions, group_actions = {}, {}, {}
        for g, agents in template.groups.items():
            cols, m = template._columns[g], len(agents)
            x = torch.from_numpy(group_obs[g]).to(self.device).reshape(size, envs * m, -1)
            mask = None if masks[g] is None else torch.from_numpy(masks[g]).to(self.device).reshape(size, envs * m, -1)
            out = nets[f"actor/{g}"](x)
            raw = template._sample(g, out, mask, noise, log_stds.get(g))
            log_prob, _ = template._log_prob_entropy(g, out, raw, mask, log_stds.get(g))
            log_probs[:, cols] = log_prob.reshape(rows, m).cpu().numpy()
            values[:, cols] = nets[f"critic/{g}"](x).reshape(rows, m).cpu().numpy()
            group_actions[g] = raw.reshape(rows, m, -1).cpu().numpy().astype(np.float32)
            codec = template.codecs[agents[0]]
            for i, agent in enumerate(agents):
                raw_actions[agent] = group_actions[g][:, i]
                env_actions[agent] = codec.to_env(group_actions[g][:, i])
        steps = []
        for s in range(size):
            part = slice(s * envs, (s + 1) * envs)

            def cut(d: dict) -> dict:
                return {key: None if v is None else v[part] for key, v in d.items()}

            steps.append(PolicyStep(cut(env_actions), cut(raw_actions), cut(group_obs), cut(group_actions), cut(masks),
                                    log_probs[part], values[part]))
        return steps

    @torch.no_grad()
    def values(self, sel: Sequence[int], group_obs: Sequence[dict[str, np.ndarray]]) -> Tensor:
        """Critic values ``[S, E, A]`` of each member's grouped observations ``group -> [E, m, obs_dim]``."""
        template = self.template
        nets = {g: self.nets[f"critic/{g}"].bind(sel) for g in template.groups}
        envs = next(iter(group_obs[0].values())).shape[0]
        out = torch.zeros(len(sel), envs, len(template.agent_ids), device=self.device)
        for g, cols in template._columns.items():
            x = torch.from_numpy(np.stack([o[g] for o in group_obs])).to(self.device)
            out[:, :, cols] = nets[g](x.reshape(len(sel), -1, x.shape[-1])).reshape(len(sel), envs, len(cols))
        return out

    def truncation_values(self, sel: Sequence[int], final_obs: dict[str, np.ndarray], terminations: np.ndarray,
                          truncations: np.ndarray) -> np.ndarray:
        """``V(final observation)`` ``[S * E, A]`` where a step was truncated and not terminated, else 0."""
        need = np.asarray(truncations, bool) & ~np.asarray(terminations, bool)
        if not need.any():
            return np.zeros(need.shape, np.float32)
        size = len(sel)
        grouped = self.template.group_obs(final_obs)
        envs = need.shape[0] // size
        per_member = [{g: x[s * envs:(s + 1) * envs] for g, x in grouped.items()} for s in range(size)]
        values = self.values(sel, per_member).reshape(need.shape).cpu().numpy()
        return np.where(need, values, 0.0).astype(np.float32)

    # ------------------------------------------------------------------ learning
    def learn(self, sel: Sequence[int], buffers: Sequence[RolloutBuffer]) -> list[dict[str, float]]:
        """``IPPO.learn`` of every member in ``sel`` on its filled rollout (``last_obs`` set), all at once.

        The advantages are computed on the host, where the rollouts live (one wait for the device per call, for
        the bootstrap values); the epochs then run on the device without waiting for the host (unless a member
        has a ``target_kl``: its early stop reads the KL every minibatch, as ``IPPO.learn`` does).
        """
        members = [self.population[k] for k in sel]
        last = self.values(sel, [b.last_obs for b in buffers]).cpu().numpy()
        batches: list[RolloutBatch] = []
        for s, (member, buffer) in enumerate(zip(members, buffers)):
            buffer.compute_advantages(last[s], member.gamma, member.gae_lambda)
            batches.append(buffer.batch(self.device))
        sums, updates = self.epochs(sel, batches)
        totals = {key: value.cpu().numpy() for key, value in sums.items()}
        results = []
        for s, member in enumerate(members):
            member.learn_counter += 1
            losses = {key: float(totals[key][s]) / max(int(updates[s]), 1) for key in PPO_STATS}
            losses["updates"] = float(updates[s])
            results.append(losses)
        return results

    def epochs(self, sel: Sequence[int], batches: Sequence[RolloutBatch]) -> tuple[dict[str, Tensor], np.ndarray]:
        """The PPO epochs of members ``sel`` on their rollouts (advantages computed): round ``r`` is each member's
        ``r``-th minibatch update. Returns the per-member sums of the statistics (``[S]``, on the device) and
        how many updates each member made."""
        members = [self.population[k] for k in sel]
        rollout = _concat(list(batches))
        offsets = np.cumsum([0] + [b.size for b in batches])
        sizes = [min(m.batch_size, b.size) for m, b in zip(members, batches)]
        per_epoch = [-(-b.size // n) for b, n in zip(batches, sizes)]
        total = [m.update_epochs * e for m, e in zip(members, per_epoch)]
        stopped = [False] * len(sel)
        orders: list[np.ndarray | None] = [None] * len(sel)
        sums = {key: torch.zeros(len(sel), dtype=torch.float64, device=self.device) for key in PPO_STATS}
        updates = np.zeros(len(sel), np.int64)
        for r in range(max(total)):
            active = [s for s in range(len(sel)) if not stopped[s] and r < total[s]]
            if not active:
                break
            rows = []
            for s in active:
                j = r % per_epoch[s]
                if j == 0:  # a new epoch: the member shuffles its rollout with its own RNG
                    orders[s] = members[s].rng.permutation(batches[s].size)
                rows.append(orders[s][j * sizes[s]:(j + 1) * sizes[s]] + offsets[s])
            stats, done = self._update([sel[s] for s in active], rollout, rows)
            for s in (active[i] for i in np.flatnonzero(done)):
                stopped[s] = True
            updates[[s for i, s in enumerate(active) if not done[i]]] += 1
            kept = index_tensor([not d for d in done], self.device, torch.bool)
            index = index_tensor(active, self.device)
            for key, value in stats.items():
                sums[key].index_add_(0, index, torch.where(kept, value, 0.0))
        return sums, updates

    def _update(self, sel: list[int], rollout: RolloutBatch, rows: list[np.ndarray]) -> tuple[dict[str, Tensor], list[bool]]:
        """One minibatch step of members ``sel`` on their ``rows`` of ``rollout``; per-member statistics ``[S]``
        (float64, summed over groups and divided by their number) and which members stopped on ``target_kl``."""
        mb = _minibatch(rollout, rows, self.device)
        index = index_tensor(sel, self.device)
        hp = PPOHparams(*(v.index_select(0, index) for v in self.hparams))
        nets, log_stds = self._bind(sel, train=True)
        loss, stats = self.template.ppo_loss(nets, log_stds, mb, hp)
        groups = len(self.template.groups)
        means = {key: torch.stack(values).double().sum(0) / groups for key, values in stats.items()}
        members = [self.population[k] for k in sel]
        done = [False] * len(sel)
        if any(m.target_kl is not None for m in members):
            kl = means["approx_kl"].cpu().numpy()
            done = [m.target_kl is not None and kl[s] > m.target_kl for s, m in enumerate(members)]
        if all(done):
            return means, done
        keep = None if not any(done) else [not d for d in done]
        optimize(loss, list(nets.values()), self.max_norm.index_select(0, index), keep)
        return means, done

    def write_back(self) -> None:
        """Copy the stacks back into the members (weights, log standard deviations, optimizer states)."""
        for net in self.nets.values():
            net.write_back()


def _concat(batches: list[RolloutBatch]) -> RolloutBatch:
    """Rollouts of several members one after another (rows of member ``s`` follow those of ``s - 1``)."""
    first = batches[0]

    def cat(get) -> Tensor:
        return torch.cat([get(b) for b in batches]) if len(batches) > 1 else get(first)

    masks = {}
    for g in first.obs:
        present = [b.action_masks[g] for b in batches]
        if all(m is None for m in present):
            masks[g] = None
        else:
            masks[g] = torch.cat([torch.ones_like(b.actions[g], dtype=torch.bool) if m is None else m
                                  for b, m in zip(batches, present)])
    return RolloutBatch(obs={g: cat(lambda b: b.obs[g]) for g in first.obs},
                        actions={g: cat(lambda b: b.actions[g]) for g in first.actions}, action_masks=masks,
                        log_probs=cat(lambda b: b.log_probs), values=cat(lambda b: b.values),
                        advantages=cat(lambda b: b.advantages), returns=cat(lambda b: b.returns),
                        active=cat(lambda b: b.active), columns=first.columns)


def _minibatch(rollout: RolloutBatch, rows: list[np.ndarray], device: torch.device) -> PPOMinibatch:
    """Members' minibatch rows as a stacked :class:`PPOMinibatch` ``[S, L, ...]`` (shorter ones padded, weight 0)."""
    size = max(len(r) for r in rows)
    index = np.stack([np.concatenate([r, np.full(size - len(r), r[0])]) if len(r) < size else r for r in rows])
    idx = to_device(index, device)
    weight = rollout.active[idx].float()
    if any(len(r) < size for r in rows):
        lengths = index_tensor([len(r) for r in rows], device)
        weight = weight * (torch.arange(size, device=device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
    masks = {g: None if m is None else m[idx] for g, m in rollout.action_masks.items()}
    return PPOMinibatch({g: x[idx] for g, x in rollout.obs.items()}, {g: x[idx] for g, x in rollout.actions.items()},
                        masks, rollout.log_probs[idx], rollout.values[idx], rollout.advantages[idx],
                        rollout.returns[idx], weight)
