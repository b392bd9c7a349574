"""IPPO: independent PPO learners (decentralised actor and critic per agent or parameter-sharing group).

Every group (one agent, or several agents with identical spaces when ``share_params=True``) has an
actor and a critic that see only the agent's own observation. Learning is PPO (Schulman et al., 2017)
on the member's own rollouts: GAE advantages (normalised per minibatch if ``normalize_advantages``),
the clipped surrogate objective, an optionally clipped value loss, an entropy bonus, gradient-norm
clipping, ``update_epochs`` passes over shuffled minibatches of ``batch_size`` samples per agent, and
an optional early stop once the approximate KL divergence exceeds ``target_kl``.

Actions: ``Box`` actors output the mean of a Gaussian with a state-independent log standard
deviation (one learned parameter per action dimension, trained by the actor's optimizer and saved
with the member); the raw action is the unclipped sample on the [-1, 1] scale and the env receives
it clipped and rescaled. ``Discrete`` / ``MultiDiscrete`` actors output logits, one categorical per
segment (``action_mask`` infos are respected); the raw action is the concatenated one-hot vector.
Evaluation (``set_training_mode(False)``) acts with the mean / the most likely action.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from evo_marl.algorithms.base import EvolvableAlgorithm
from evo_marl.algorithms.functional import GeneratorNoise, NoiseSource, choose, per_member
from evo_marl.algorithms.hparams import Hyperparameters, hp
from evo_marl.buffers.rollout import RolloutBatch, RolloutBuffer, minibatch_size_of
from evo_marl.errors import ConfigError, check
from evo_marl.hpo.parameters import HyperparameterConfig, RLParameter


class PolicyStep(NamedTuple):
    """One batched action choice: what the env receives and what the rollout stores.

    ``obs`` / ``actions`` / ``action_masks``: ``group -> [B, m, dim]``; ``log_probs`` / ``values``: ``[B, A]``.
    """

    env_actions: dict[str, np.ndarray]
    raw_actions: dict[str, np.ndarray]
    obs: dict[str, np.ndarray]
    actions: dict[str, np.ndarray]
    action_masks: dict[str, np.ndarray | None]
    log_probs: np.ndarray
    values: np.ndarray


@dataclass
class IPPOHyperparameters(Hyperparameters):
    """IPPO's hyperparameters (``INIT_HP`` keys are the upper-case names: ``LR``, ``LEARN_STEP`` ...)."""

    agilerl_aliases = {"MINIBATCH_SIZE": "batch_size"}

    batch_size: int | None = hp(None, 1, 1e9, integer=True, optional=True,
                                doc="minibatch size in samples per agent (None: min(64, rollout samples))")
    lr: float = hp(3e-4, 0, 1, low_open=True, doc="Adam learning rate of actors and critics")
    learn_step: int = hp(1024, 1, 1e9, integer=True,
                         doc="env transitions of this member (over its num_envs envs) per rollout")
    gamma: float = hp(0.99, 0, 1, doc="discount factor")
    gae_lambda: float = hp(0.95, 0, 1, doc="GAE lambda")
    clip_coef: float = hp(0.2, 0, 10, low_open=True, doc="PPO ratio clip (also the value clip)")
    ent_coef: float = hp(0.01, 0, 1e3, doc="entropy-bonus weight")
    vf_coef: float = hp(0.5, 0, 1e3, doc="value-loss weight")
    max_grad_norm: float | None = hp(0.5, 0, 1e9, low_open=True, optional=True, doc="gradient-norm clip (None: off)")
    target_kl: float | None = hp(None, 0, 1e3, low_open=True, optional=True,
                                 doc="stop an update once the approximate KL exceeds it (None: never)")
    update_epochs: int = hp(4, 1, 1e4, integer=True, doc="passes over each rollout")
    action_std_init: float = hp(0.6, 0, 1e3, low_open=True,
                                doc="initial std of Box actions on the [-1, 1] scale (a mutation restarts it)")
    clip_vloss: bool = hp(True, boolean=True, doc="clip the value loss around the rollout's values")
    normalize_advantages: bool = hp(True, boolean=True, doc="normalise advantages per minibatch")


PPO_STATS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


class PPOMinibatch(NamedTuple):
    """Rows of a rollout: ``obs`` / ``actions`` / ``action_masks`` ``group -> [..., L, m, dim]``, the rest
    ``[..., L, A]``; ``weight`` is the active flag as a float (0 also on padding rows of a stacked minibatch)."""

    obs: dict[str, torch.Tensor]
    actions: dict[str, torch.Tensor]
    action_masks: dict[str, torch.Tensor | None]
    log_probs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    weight: torch.Tensor


class PPOHparams(NamedTuple):
    """Hyperparameters of the PPO loss: numbers / bools for one member, tensors ``[S]`` for a stack."""

    clip_coef: Any
    ent_coef: Any
    vf_coef: Any
    clip_vloss: Any
    normalize_advantages: Any


def minibatch(batch: RolloutBatch, idx: torch.Tensor) -> PPOMinibatch:
    """The rows ``idx`` of a rollout."""
    masks = {g: None if m is None else m[idx] for g, m in batch.action_masks.items()}
    return PPOMinibatch({g: x[idx] for g, x in batch.obs.items()}, {g: x[idx] for g, x in batch.actions.items()},
                        masks, batch.log_probs[idx], batch.values[idx], batch.advantages[idx], batch.returns[idx],
                        batch.active[idx].float())


class IPPO(EvolvableAlgorithm):
    """Independent PPO as an evolvable population member.

    Hyperparameters (:class:`IPPOHyperparameters`; keyword arguments or ``hp=``): ``learn_step`` is the
    rollout length in env transitions of this member, as for the off-policy algorithms (the rollout is
    ``rollout_steps = ceil(learn_step / num_envs)`` vector steps); ``batch_size`` the minibatch in samples
    per agent (``minibatch_size`` is an alias, or give ``num_minibatches``), at most the rollout's samples.
    """

    algo_name = "IPPO"
    on_policy = True
    Hyperparameters = IPPOHyperparameters
    lr_hparams = ("lr",)
    options = {**EvolvableAlgorithm.options, "MINIBATCH_SIZE": "minibatch_size", "NUM_MINIBATCHES": "num_minibatches"}

    def __init__(self, *args: Any, minibatch_size: int | None = None, num_minibatches: int | None = None,
                 **kwargs: Any):
        self._minibatch_options = (minibatch_size, num_minibatches)
        super().__init__(*args, **kwargs)

    @classmethod
    def default_hp_config(cls) -> HyperparameterConfig:
        """Learning rate (log scale), minibatch and rollout sizes, discount and GAE lambda (on the horizon),
        entropy bonus, ratio clip, epochs and the action std."""
        return HyperparameterConfig(
            lr=RLParameter(1e-5, 3e-3, grow_factor=2.0, shrink_factor=0.5, scale="log"),
            batch_size=RLParameter(32, 1024, grow_factor=1.5, shrink_factor=0.67, dtype=int, scale="log"),
            learn_step=RLParameter(64, 8192, grow_factor=1.5, shrink_factor=0.67, dtype=int, scale="log"),
            gamma=RLParameter(0.9, 0.999, grow_factor=1.5, shrink_factor=0.67, scale="horizon"),
            gae_lambda=RLParameter(0.8, 0.99, grow_factor=1.5, shrink_factor=0.67, scale="horizon"),
            ent_coef=RLParameter(1e-4, 0.05, grow_factor=2.0, shrink_factor=0.5, scale="log"),
            clip_coef=RLParameter(0.05, 0.4),
            update_epochs=RLParameter(1, 10, dtype=int),
            action_std_init=RLParameter(0.05, 1.0, grow_factor=1.5, shrink_factor=0.67, scale="log"),
        )

    @classmethod
    def consistent_values(cls, values: dict[str, Any], num_envs: int) -> dict[str, Any]:
        """A drawn minibatch never exceeds the drawn rollout's samples."""
        if "batch_size" in values and "learn_step" in values:
            samples = -(-int(values["learn_step"]) // num_envs) * num_envs
            values = {**values, "batch_size": min(int(values["batch_size"]), samples)}
        return values

    @property
    def rollout_steps(self) -> int:
        """Vector steps per rollout: ``ceil(learn_step / num_envs)``."""
        return -(-self.learn_step // self.num_envs)

    def _resolve_hyperparameters(self) -> None:
        minibatch, num_minibatches = self._minibatch_options
        self.hp.batch_size = minibatch_size_of(self.hp.batch_size, minibatch, num_minibatches, self.rollout_steps,
                                               self.num_envs)

    # ------------------------------------------------------------------ networks
    def _build_networks(self) -> None:
        self.log_stds: dict[str, torch.nn.Parameter] = {}
        self._extra_params: dict[str, list[torch.nn.Parameter]] = {}
        for group, agents in self.groups.items():
            lead = agents[0]
            codec = self.codecs[lead]
            actor = self._mlp(self.obs_dims[lead], codec.raw_dim, self.actor_configs[lead], output_init_scale=0.01)
            critic = self._mlp(self.obs_dims[lead], 1, self.critic_config or self.actor_configs[lead])
            self._add_network(f"actor/{group}", actor, role="actor", slot=f"actor/{group}", target=False)
            self._add_network(f"critic/{group}", critic, role="critic", slot=f"critic/{group}", target=False)
            if not codec.discrete:
                log_std = torch.full((codec.raw_dim,), math.log(self.action_std_init), device=self.device)
                self.log_stds[group] = torch.nn.Parameter(log_std)
                self._extra_params[f"actor/{group}"] = [self.log_stds[group]]
            self._add_optimizer(f"actor/{group}", [f"actor/{group}"], "lr")
            self._add_optimizer(f"critic/{group}", [f"critic/{group}"], "lr")
        self._columns = {g: [self.agent_ids.index(a) for a in agents] for g, agents in self.groups.items()}

    def _build_optimizer(self, name: str) -> None:
        """The base optimizer over the networks, plus the Box log-std parameter for actor optimizers."""
        super()._build_optimizer(name)
        extra = getattr(self, "_extra_params", {}).get(name)
        if extra:
            self.optimizers[name].add_param_group({"params": extra})

    def _hyperparameter_changed(self, name: str) -> None:
        """As the base; ``batch_size`` stays at most the rollout's samples (also when ``learn_step`` shrinks),
        and a new ``action_std_init`` restarts the Box actions' standard deviation at that value."""
        super()._hyperparameter_changed(name)
        samples = self.rollout_steps * self.num_envs
        if name in ("batch_size", "learn_step") and self.hp.batch_size > samples:
            self.hp.batch_size = samples
        if name == "action_std_init" and self.log_stds:
            with torch.no_grad():
                for log_std in self.log_stds.values():
                    log_std.fill_(math.log(self.action_std_init))

    def has_finite_weights(self) -> bool:
        return super().has_finite_weights() and all(torch.isfinite(p).all() for p in self.log_stds.values())

    def _extra_state(self) -> dict[str, Any]:
        return {"log_std": {g: p.detach().clone() for g, p in self.log_stds.items()}}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for group, value in state.get("log_std", {}).items():
                self.log_stds[group].copy_(value)

    # ------------------------------------------------------------------ distributions
    def _log_prob_entropy(self, group: str, out: torch.Tensor, raw: torch.Tensor, mask: torch.Tensor | None = None,
                          log_std: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``raw`` and entropy per row, for actor outputs ``out`` ``[..., B, raw_dim]``.

        ``log_std``: the Box log standard deviation, ``[raw_dim]`` (default: this member's) or ``[S, raw_dim]``.
        """
        codec = self.codecs[self.groups[group][0]]
        if not codec.discrete:
            log_std = self.log_stds[group] if log_std is None else log_std
            rows = log_std if log_std.dim() == 1 else log_std.unsqueeze(-2)
            var = torch.exp(2.0 * rows)
            log_prob = (-((raw - out) ** 2) / (2.0 * var) - rows - 0.5 * math.log(2 * math.pi)).sum(-1)
            entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)
            return log_prob, entropy.unsqueeze(-1).expand(out.shape[:-1])
        if mask is not None:
            out = out.masked_fill(~mask, -1e9)
        log_prob = torch.zeros(out.shape[:-1], device=out.device)
        entropy = torch.zeros(out.shape[:-1], device=out.device)
        for seg, act in zip(codec.split_logits(out), codec.split_logits(raw)):
            logp = torch.log_softmax(seg, dim=-1)
            log_prob = log_prob + (act * logp).sum(-1)
            entropy = entropy - (logp.exp() * logp).sum(-1)
        return log_prob, entropy

    def _sample(self, group: str, out: torch.Tensor, mask: torch.Tensor | None, noise: NoiseSource | None = None,
                log_std: torch.Tensor | None = None) -> torch.Tensor:
        """Raw actions: Gaussian / categorical samples while training, the mean / the mode when evaluating.

        ``noise`` defaults to this member's generator; ``log_std`` as in :meth:`_log_prob_entropy`.
        """
        codec = self.codecs[self.groups[group][0]]
        noise = noise or GeneratorNoise(self.torch_gen, self.device)
        if not codec.discrete:
            if not self.training:
                return out
            log_std = self.log_stds[group] if log_std is None else log_std
            return out + noise.normal(out.shape) * torch.exp(log_std if log_std.dim() == 1 else log_std.unsqueeze(-2))
        if mask is not None:
            out = out.masked_fill(~mask, -1e9)
        if self.training:  # Gumbel-max: an exact categorical sample per segment
            uniform = noise.uniform(out.shape).clamp_(1e-10, 1.0 - 1e-7)
            out = out - torch.log(-torch.log(uniform))
        return codec.one_hot_argmax(out)

    # ------------------------------------------------------------------ acting
    def group_obs(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Batched observations ``agent -> [B, ...]`` as flat float arrays ``group -> [B, m, obs_dim]``."""
        return {g: np.stack([self._obs_tensor(a, obs[a]).cpu().numpy() for a in agents], axis=1)
                for g, agents in self.groups.items()}

    def _group_masks(self, infos: dict | None, batch: int) -> dict[str, np.ndarray | None]:
        masks: dict[str, np.ndarray | None] = {}
        for g, agents in self.groups.items():
            found = [(infos or {}).get(a, {}).get("action_mask") if isinstance(infos, dict) else None for a in agents]
            if not self.codecs[agents[0]].discrete or all(m is None for m in found):
                masks[g] = None
                continue
            dim = self.codecs[agents[0]].raw_dim
            masks[g] = np.stack([np.ones((batch, dim), bool) if m is None else np.asarray(m).reshape(batch, dim) != 0
                                 for m in found], axis=1)
        return masks

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], infos: dict | None = None, estimates: bool = True) -> PolicyStep:
        """Actions, log-probabilities and values for batched observations of every agent (``agent -> [B, ...]``).

        ``estimates=False`` leaves log-probabilities and values at zero (acting only: no critic pass)."""
        group_obs = self.group_obs(obs)
        batch = next(iter(group_obs.values())).shape[0]
        masks = self._group_masks(infos, batch)
        log_probs = np.zeros((batch, len(self.agent_ids)), np.float32)
        values = np.zeros_like(log_probs)
        env_actions, raw_actions, group_actions = {}, {}, {}
        for g, agents in self.groups.items():
            x = torch.from_numpy(group_obs[g]).to(self.device).reshape(batch * len(agents), -1)
            mask = None if masks[g] is None else torch.from_numpy(masks[g]).to(self.device).reshape(x.shape[0], -1)
            out = self.networks[f"actor/{g}"](x)
            raw = self._sample(g, out, mask)
            if estimates:
                log_prob, _ = self._log_prob_entropy(g, out, raw, mask)
                log_probs[:, self._columns[g]] = log_prob.reshape(batch, -1).cpu().numpy()
                values[:, self._columns[g]] = self.networks[f"critic/{g}"](x).reshape(batch, -1).cpu().numpy()
            raw_np = raw.reshape(batch, len(agents), -1).cpu().numpy().astype(np.float32)
            group_actions[g] = raw_np
            codec = self.codecs[agents[0]]
            for i, agent in enumerate(agents):
                raw_actions[agent] = raw_np[:, i]
                env_actions[agent] = codec.to_env(raw_np[:, i])
        return PolicyStep(env_actions, raw_actions, group_obs, group_actions, masks, log_probs, values)

    def get_action(self, obs: dict[str, np.ndarray], infos: dict | None = None) -> tuple[dict, dict]:
        """Env actions and raw actions for observations ``agent -> [B, ...]`` (or one unbatched observation each).

        Agents missing from ``obs`` (they left a PettingZoo episode) get no action.
        """
        present = [a for a in self.agent_ids if a in obs]
        check(bool(present), "obs", sorted(obs), f"must hold observations of some of the agents {self.agent_ids}")
        batched = self._is_batched(present[0], obs[present[0]])
        if not batched:
            obs = {a: np.asarray(obs[a])[None] for a in present}
            infos = {a: {k: np.asarray(v)[None] for k, v in infos[a].items()}
                     for a in present if isinstance(infos.get(a), dict)} if isinstance(infos, dict) else None
        size = len(obs[present[0]])
        full = {a: obs[a] if a in obs else np.zeros((size, self.obs_dims[a]), np.float32) for a in self.agent_ids}
        step = self.act(full, infos, estimates=False)
        pick = (lambda x: x) if batched else (lambda x: x[0])
        return ({a: pick(step.env_actions[a]) for a in present}, {a: pick(step.raw_actions[a]) for a in present})

    @torch.no_grad()
    def act_group(self, group: str, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw actions ``[B, raw_dim]``, log-probabilities ``[B]`` and values ``[B]`` of one group's network
        for flat observations ``[B, obs_dim]`` of any of its agents (sampled while training, the mode otherwise)."""
        x = self._obs_tensor(self.groups[group][0], obs)
        out = self.networks[f"actor/{group}"](x)
        raw = self._sample(group, out, None)
        log_prob, _ = self._log_prob_entropy(group, out, raw)
        value = self.networks[f"critic/{group}"](x).reshape(-1)
        return (raw.cpu().numpy().astype(np.float32), log_prob.cpu().numpy().astype(np.float32),
                value.cpu().numpy().astype(np.float32))

    @torch.no_grad()
    def group_values(self, group: str, obs: np.ndarray) -> np.ndarray:
        """Critic values ``[B]`` of one group for flat observations ``[B, obs_dim]``."""
        x = self._obs_tensor(self.groups[group][0], obs)
        return self.networks[f"critic/{group}"](x).reshape(-1).cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def _values(self, group_obs: dict[str, np.ndarray], rows: np.ndarray | None = None) -> np.ndarray:
        """Critic values ``[B, A]`` of grouped observations (only where ``rows[B, A]`` is True; zeros elsewhere)."""
        batch = next(iter(group_obs.values())).shape[0]
        values = np.zeros((batch, len(self.agent_ids)), np.float32)
        for g, cols in self._columns.items():
            sel = np.ones((batch, len(cols)), bool) if rows is None else rows[:, cols]
            if not sel.any():
                continue
            x = torch.from_numpy(group_obs[g][sel]).to(self.device)
            block = np.zeros(sel.shape, np.float32)
            block[sel] = self.networks[f"critic/{g}"](x).reshape(-1).cpu().numpy()
            values[:, cols] = block
        return values

    def truncation_values(self, final_obs: dict[str, np.ndarray], terminations: np.ndarray,
                          truncations: np.ndarray) -> np.ndarray:
        """``V(final observation)`` where a step was truncated and not terminated (``[B, A]`` flags), else 0."""
        need = np.asarray(truncations, bool) & ~np.asarray(terminations, bool)
        if not need.any():
            return np.zeros(need.shape, np.float32)
        return self._values(self.group_obs(final_obs), need)

    # ------------------------------------------------------------------ learning
    def learn(self, experiences: RolloutBuffer) -> dict[str, float]:
        """PPO epochs on a filled :class:`RolloutBuffer` (its ``last_obs`` set); the caller resets it afterwards."""
        if not isinstance(experiences, RolloutBuffer):
            raise ConfigError("experiences", type(experiences).__name__, "IPPO.learn needs a filled RolloutBuffer")
        if len(experiences) == 0:
            raise ConfigError("experiences", "RolloutBuffer(pos=0)", "holds no steps; collect a rollout first")
        if experiences.columns != self._columns:
            raise ConfigError("experiences.columns", experiences.columns,
                              f"must match this member's groups {self._columns}")
        experiences.compute_advantages(self._values(experiences.last_obs), self.gamma, self.gae_lambda)
        return self.update(experiences.batch(self.device))

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        """PPO epochs on a prepared :class:`RolloutBatch` (advantages and returns filled); returns mean losses.

        ``learn`` builds the batch from this member's own rollout; a league builds it from the seats the
        member played (``columns`` then name the group's columns of that batch).
        """
        size = min(self.batch_size, batch.size)
        totals: dict[str, float] = {}
        updates = 0
        stop = False
        for _ in range(self.update_epochs):
            order = torch.from_numpy(self.rng.permutation(batch.size)).to(self.device)
            for start in range(0, batch.size, size):
                stats = self._update(batch, order[start:start + size])
                if stats is None:
                    stop = True
                    break
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + value
                updates += 1
            if stop:
                break
        self.learn_counter += 1
        losses = {key: value / max(updates, 1) for key, value in totals.items()}
        losses["updates"] = float(updates)
        return losses

    def loss_hparams(self) -> PPOHparams:
        """The hyperparameters the PPO loss reads (numbers; the batched path passes tensors ``[S]``)."""
        return PPOHparams(self.clip_coef, self.ent_coef, self.vf_coef, self.clip_vloss, self.normalize_advantages)

    def ppo_loss(self, nets: Mapping[str, Callable], log_stds: Mapping[str, torch.Tensor], mb: PPOMinibatch,
                 hp: PPOHparams) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]]]:
        """PPO loss of a minibatch summed over groups (``[]``, or ``[S]`` for a stacked minibatch), and
        per-group statistics (``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl``, ``clip_fraction``)."""
        adv_all, weight_all = mb.advantages, mb.weight
        if hp.normalize_advantages is not False:
            denom = weight_all.sum(dim=(-2, -1)).clamp(min=1.0)
            mean = per_member((adv_all * weight_all).sum(dim=(-2, -1)) / denom, adv_all)
            std = per_member(torch.sqrt(((adv_all - mean) ** 2 * weight_all).sum(dim=(-2, -1)) / denom), adv_all)
            adv_all = choose(hp.normalize_advantages, (adv_all - mean) / (std + 1e-8), adv_all)
        loss = torch.zeros((), device=self.device)
        stats: dict[str, list[torch.Tensor]] = {k: [] for k in PPO_STATS}
        for g, cols in self._columns.items():
            x = mb.obs[g].flatten(-3, -2)
            raw = mb.actions[g].flatten(-3, -2)
            mask = None if mb.action_masks[g] is None else mb.action_masks[g].flatten(-3, -2)
            new_logp, entropy = self._log_prob_entropy(g, nets[f"actor/{g}"](x), raw, mask, log_stds.get(g))
            weight = weight_all[..., cols].flatten(-2)
            denom = weight.sum(-1).clamp(min=1.0)
            log_ratio = new_logp - mb.log_probs[..., cols].flatten(-2)
            ratio = log_ratio.exp()
            adv = adv_all[..., cols].flatten(-2)
            clip = per_member(hp.clip_coef, ratio)
            pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip))
            value = nets[f"critic/{g}"](x).squeeze(-1)
            ret = mb.returns[..., cols].flatten(-2)
            v_loss = (value - ret) ** 2
            if hp.clip_vloss is not False:
                old = mb.values[..., cols].flatten(-2)
                clipped = old + (value - old).clamp(-clip, clip)
                v_loss = choose(hp.clip_vloss, torch.max(v_loss, (clipped - ret) ** 2), v_loss)
            pg_loss, v_loss = (weight * pg).sum(-1) / denom, 0.5 * (weight * v_loss).sum(-1) / denom
            ent = (weight * entropy).sum(-1) / denom
            loss = loss + pg_loss + hp.vf_coef * v_loss - hp.ent_coef * ent
            with torch.no_grad():
                stats["approx_kl"].append((weight * ((ratio - 1) - log_ratio)).sum(-1) / denom)
                stats["clip_fraction"].append((weight * ((ratio - 1).abs() > clip).float()).sum(-1) / denom)
            stats["policy_loss"].append(pg_loss.detach())
            stats["value_loss"].append(v_loss.detach())
            stats["entropy"].append(ent.detach())
        return loss, stats

    def _update(self, batch: RolloutBatch, idx: torch.Tensor) -> dict[str, float] | None:
        """One minibatch step over every group; None (and no step) once the approximate KL passes ``target_kl``."""
        loss, stats = self.ppo_loss(self.networks, self.log_stds, minibatch(batch, idx), self.loss_hparams())
        totals = {key: sum(float(v) for v in values) for key, values in stats.items()}
        groups = len(batch.columns)
        if self.target_kl is not None and totals["approx_kl"] / groups > self.target_kl:
            return None
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.max_grad_norm is not None:
            for opt in self.optimizers.values():
                torch.nn.utils.clip_grad_norm_([p for grp in opt.param_groups for p in grp["params"]],
                                               self.max_grad_norm)
        for opt in self.optimizers.values():
            opt.step()
        return {key: totals[key] / groups for key in PPO_STATS}
