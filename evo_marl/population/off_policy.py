"""MADDPG / MATD3 members acting and learning as stacks.

:class:`StackedOffPolicy` stacks every member's actors, critics and targets (:mod:`.network`), runs
the algorithm's own loss code (:meth:`MADDPG.critic_loss`, :meth:`MADDPG.actor_loss`) once for all
members that learn now, with their hyperparameters as tensors ``[S]`` and their own generators, and
takes one Adam step per stack. :func:`stacked_batch` gathers their sampled transitions, padding members
with smaller batch sizes (padding rows weigh nothing). Members stay the source of truth between phases:
build a ``StackedOffPolicy`` when a phase starts and call :meth:`StackedOffPolicy.write_back` at its end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from evo_marl.algorithms.maddpg import MADDPG, LossBatch, LossHparams
from evo_marl.algorithms.spaces import space_to_dict
from evo_marl.errors import ConfigError
from evo_marl.population.network import BoundNetwork, StackedNetwork, optimize
from evo_marl.population.noise import StackedNoise
from evo_marl.population.precision import hidden_dtype
from evo_marl.population.stack import StackEntry
from evo_marl.population.transfer import index_tensor


def check_uniform(population: list, cls: type) -> None:
    """Members must be of one algorithm with the same agents, spaces and parameter-sharing groups."""
    lead = population[0]

    def spaces(m) -> tuple:
        return ({a: space_to_dict(s) for a, s in m.observation_spaces.items()},
                {a: space_to_dict(s) for a, s in m.action_spaces.items()})

    for m in population:
        if type(m) is not type(lead) or not isinstance(m, cls):
            raise ConfigError("population", type(m).__name__, f"batched learning needs one algorithm ({cls.__name__})")
        same = (m.agent_ids == lead.agent_ids and m.groups == lead.groups and spaces(m) == spaces(lead)
                and m.device == lead.device)
        if not same:
            raise ConfigError("population", m.index, "batched learning needs equal agents, spaces, groups and device")


def masked_logits(out: Tensor, infos: dict | None, agent: str) -> Tensor:
    """Discrete actor outputs with the actions that ``infos[agent]["action_mask"]`` rules out (0) set to -1e9."""
    mask = (infos or {}).get(agent, {}).get("action_mask") if isinstance(infos, dict) else None
    if mask is None:
        return out
    return out.masked_fill(torch.as_tensor(np.asarray(mask).reshape(out.shape) == 0, device=out.device), -1e9)


def optimizer_of(member, name: str) -> torch.optim.Optimizer:
    """The optimizer that trains network ``name`` of ``member``."""
    for opt_name, (net_names, _) in member._optimizer_spec.items():
        if name in net_names:
            return member.optimizers[opt_name]
    raise ConfigError("network", name, "is trained by none of the member's optimizers")


class StackedOffPolicy:
    """Acting and learning of a MADDPG / MATD3 population as stacks (see the module docstring).

    Args:
        population: the members (one algorithm, equal agents and spaces).
        grouping: how members with different architectures are stacked (:data:`~.network.GROUPINGS`).
        precision: of learning, ``"float32"`` or ``"bfloat16"`` (:mod:`evo_marl.population.precision`).
    """

    def __init__(self, population: list, grouping: str = "auto", precision: str = "float32"):
        check_uniform(population, MADDPG)
        self.population, self.template = population, population[0]
        device = self.template.device
        self.hidden_dtype = hidden_dtype(precision, device)
        self.nets = {name: StackedNetwork([StackEntry(m.networks[name], [], m.targets.get(name), optimizer_of(m, name))
                                           for m in population], grouping, device)
                     for name in self.template.networks}
        self.roles = self.template.roles
        self.generators = [m.torch_gen for m in population]

        def column(values: list[Any]) -> Tensor:
            return torch.tensor(values, dtype=torch.float32, device=device)

        if len({m.expected_pg for m in population}) > 1:
            raise ConfigError("expected_pg", [m.expected_pg for m in population],
                              "batched learning needs the same expected_pg for every member")
        self.hparams = LossHparams(
            gamma=column([m.gamma for m in population]), reward_scale=column([m.reward_scale for m in population]),
            huber_delta=column([math.nan if m.huber_delta is None else m.huber_delta for m in population])
            if any(m.huber_delta is not None for m in population) else None,
            target_noise=column([m.target_noise for m in population]),
            noise_clip=column([m.noise_clip for m in population]),
            entropy_coef=column([m.entropy_coef for m in population]), expected_pg=self.template.expected_pg,
            action_l2=column([m.action_l2 for m in population]) if any(m.action_l2 for m in population) else 0.0)
        self.device = device

    # ------------------------------------------------------------------ helpers
    def _hp(self, sel: Sequence[int]) -> LossHparams:
        index = index_tensor(sel, self.device)
        return LossHparams(*(v.index_select(0, index) if isinstance(v, Tensor) else v for v in self.hparams))

    def _bind(self, role: str, sel: Sequence[int], train: bool = False, target: bool = False,
              learning: bool = False) -> dict[str, BoundNetwork]:
        """Networks of ``role`` ("": every network) for members ``sel``; ``learning`` (implied by ``train``): a
        forward of a learning step, in the learning precision."""
        names = [n for n in self.nets if self.roles[n] == role] if role else list(self.nets)
        dtype = self.hidden_dtype if train or learning else None
        return {n: self.nets[n].bind(sel, train=train, target=target, hidden_dtype=dtype) for n in names}

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def get_action(self, sel: Sequence[int], obs: dict[str, np.ndarray], infos: dict | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Env and raw actions of members ``sel`` for their observations ``agent -> [S * E, ...]`` (member-major).

        The same as each member's ``get_action`` on its own ``E`` rows (training mode, exploration noise
        from the member's own generators).
        """
        template, size = self.template, len(sel)
        obs_t = {a: template._obs_tensor(a, obs[a]).reshape(size, -1, template.obs_dims[a]) for a in obs}
        outputs = template._policy_outputs(obs_t, self._bind("actor", sel))
        members = [self.population[k] for k in sel]
        env_actions, raw_actions = {}, {}
        for agent, out in outputs.items():
            codec = template.codecs[agent]
            if codec.discrete:
                out = masked_logits(out, infos, agent)
                noise = StackedNoise([self.generators[k] for k in sel], out.device)
                raw = codec.gumbel_softmax(out, uniform=noise.uniform(out.shape)).cpu().numpy()
            else:
                raw = out.cpu().numpy()
                noise = np.stack([m._noise(agent, raw.shape[1:]) for m in members])
                raw = np.clip(raw + noise, -1.0, 1.0).astype(np.float32)
            raw = raw.reshape(-1, raw.shape[-1])
            env_actions[agent], raw_actions[agent] = codec.to_env(raw), raw
        return env_actions, raw_actions

    # ------------------------------------------------------------------ learning
    def learn(self, sel: Sequence[int], batch: LossBatch, rows: Sequence[int] | None = None) -> dict[str, Tensor]:
        """One ``learn`` of every member in ``sel`` on its rows of ``batch`` (``[S, B, ...]``).

        ``rows``: each member's batch size where ``batch`` is padded (read from ``batch.valid`` if not given,
        which makes the host wait for the device). Returns the losses as tensors ``[S]`` (``actor_loss`` NaN for
        members without an actor update).
        """
        template, sel = self.template, list(sel)
        if rows is None and batch.valid is not None:
            rows = [int(n) for n in batch.valid.sum(-1).tolist()]
        noise = StackedNoise([self.generators[k] for k in sel], self.device, rows)
        critics = self._bind("critic", sel, train=True)
        targets = self._bind("", sel, target=True, learning=True)
        critic_loss = template.critic_loss(critics, targets, batch, self._hp(sel), noise)
        optimize(critic_loss, list(critics.values()))
        losses = {"critic_loss": critic_loss.detach() / len(template.agent_ids)}

        due = []
        for s, k in enumerate(sel):
            member = self.population[k]
            member.learn_counter += 1
            if member.learn_counter % member.policy_freq == 0:
                due.append(s)
        if not due:
            return losses
        actor_sel = [sel[s] for s in due]
        if len(due) < len(sel):
            batch = _select(batch, index_tensor(due, self.device))
            noise = StackedNoise([self.generators[k] for k in actor_sel], self.device,
                                 None if rows is None else [rows[s] for s in due])
        actors = self._bind("actor", actor_sel, train=True)
        nets = {**actors, **self._bind("critic", actor_sel, learning=True)}
        actor_loss = template.actor_loss(nets, batch, noise, self._hp(actor_sel))
        optimize(actor_loss, list(actors.values()))
        taus = [self.population[k].tau for k in actor_sel]
        for net in self.nets.values():
            net.soft_update(actor_sel, taus)
        full = torch.full((len(sel),), math.nan, device=self.device)
        full[index_tensor(due, self.device)] = actor_loss.detach() / len(template.agent_ids)
        losses["actor_loss"] = full
        return losses

    def write_back(self) -> None:
        """Copy the stacks back into the members (weights, targets, optimizer states)."""
        for net in self.nets.values():
            net.write_back()


def _select(batch: LossBatch, index: Tensor) -> LossBatch:
    """The members ``index`` of a stacked batch."""
    fields = [{a: t.index_select(0, index) for a, t in d.items()} for d in batch[:6]]
    return LossBatch(*fields, valid=None if batch.valid is None else batch.valid.index_select(0, index))


def stacked_batch(memory, template: MADDPG, indices: Sequence[np.ndarray]) -> LossBatch:
    """The transitions ``indices[s]`` (buffer rows) of each learning member as a stacked :class:`LossBatch`.

    Members with fewer rows are padded (with copies of their first row) up to the largest batch; padding
    rows have weight 0 and ``valid`` 0.
    """
    size = max(len(i) for i in indices)
    ragged = any(len(i) != size for i in indices)
    rows = np.stack([np.concatenate([i, np.full(size - len(i), i[0])]) if len(i) < size else i for i in indices])
    batch = template._unpack(memory.gather(rows))
    device = template.device
    valid = None
    if ragged:
        lengths = index_tensor([len(i) for i in indices], device)
        valid = (torch.arange(size, device=device).unsqueeze(0) < lengths.unsqueeze(1)).float()

    def flat(field: str, agent: str) -> Tensor:
        t = batch[field][agent]
        return t.reshape(t.shape[0], size, -1).float().to(device)

    def column(field: str, agent: str) -> Tensor:
        return batch[field][agent].reshape(len(indices), size).float().to(device)

    agents = template.agent_ids
    active = batch.get("active")
    weight = {}
    for a in agents:
        w = column("active", a) if active is not None else torch.ones(len(indices), size, device=device)
        weight[a] = w if valid is None else w * valid
    return LossBatch(obs={a: flat("obs", a) for a in agents}, action={a: flat("action", a) for a in agents},
                     next_obs={a: flat("next_obs", a) for a in agents}, reward={a: column("reward", a) for a in agents},
                     done={a: column("termination", a) for a in agents}, weight=weight, valid=valid)
