"""Rollout storage for on-policy learners, and generalised advantage estimation (GAE).

A :class:`RolloutBuffer` holds one member's rollout of ``capacity`` vector steps over ``num_envs``
sub-envs, preallocated as arrays ``[T, E, ...]``. Per-agent scalars (rewards, values, log-probs, flags)
live in ``[T, E, A]`` arrays in agent order, so GAE runs once over every env and agent; observations
and raw actions are stored per parameter-sharing group as ``[T, E, m, dim]`` (``m`` agents in the
group), so a group's networks see one contiguous batch.

Episode ends: ``terminations`` stop bootstrapping; ``truncations`` bootstrap from
``truncation_values`` (the value of the true final observation, computed by the learner when the
step happened); either way the next stored step belongs to a new episode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from evo_marl.errors import ConfigError

SCALAR_FIELDS = ("log_probs", "values", "rewards", "truncation_values")
FLAG_FIELDS = ("terminations", "truncations", "active")


def compute_gae(rewards: np.ndarray, values: np.ndarray, terminations: np.ndarray, truncations: np.ndarray,
                last_values: np.ndarray, gamma: float, gae_lambda: float,
                truncation_values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns (``advantages + values``) of a rollout.

    Arrays are shaped ``[T, ...]`` (any trailing shape, e.g. ``[T, envs, agents]``); ``last_values``
    is ``[...]``, the value of the observation after the last step. The only Python loop runs over
    the ``T`` time steps, in reverse.

    Args:
        rewards, values: per step. terminations / truncations: the step ended the episode (real end /
            time limit). last_values: bootstrap value after the last step (used where it did not end).
        gamma: discount. gae_lambda: GAE lambda.
        truncation_values: value of the true final observation, bootstrapped where a step was truncated
            and not terminated (zeros when None).
    """
    rewards = np.asarray(rewards, np.float64)
    values = np.asarray(values, np.float64)
    terms = np.asarray(terminations, bool)
    ended = terms | np.asarray(truncations, bool)
    bootstrap = np.zeros_like(rewards) if truncation_values is None else np.where(
        ended & ~terms, np.asarray(truncation_values, np.float64), 0.0)
    advantages = np.zeros_like(rewards)
    next_values = np.asarray(last_values, np.float64)
    last_gae = np.zeros_like(next_values)
    for t in range(rewards.shape[0] - 1, -1, -1):
        going_on = 1.0 - ended[t]
        delta = rewards[t] + gamma * (going_on * next_values + bootstrap[t]) - values[t]
        last_gae = delta + gamma * gae_lambda * going_on * last_gae
        advantages[t] = last_gae
        next_values = values[t]
    return advantages.astype(np.float32), (advantages + values).astype(np.float32)


def _optional_int(name: str, value) -> None:
    ok = value is None or (isinstance(value, (int, np.integer, float)) and not isinstance(value, bool)
                           and float(value).is_integer() and value >= 1)
    if not ok:
        raise ConfigError(name, value, "must be None or an integer >= 1")


def minibatch_size_of(batch_size: int | None, minibatch_size: int | None, num_minibatches: int | None,
                      rollout_steps: int, num_envs: int) -> int:
    """The minibatch size (samples per agent) for rollouts of ``rollout_steps x num_envs`` samples per agent.

    ``minibatch_size`` is an alias of ``batch_size``; ``num_minibatches`` derives it (and must divide the
    rollout). Without any of them it is ``min(64, learn_step x num_envs)``.

    Raises:
        ConfigError: for inconsistent values, or a minibatch larger than the rollout.
    """
    for name, value in (("batch_size", batch_size), ("minibatch_size", minibatch_size),
                        ("num_minibatches", num_minibatches)):
        _optional_int(name, value)
    samples = rollout_steps * num_envs
    rollout = f"rollout_steps x num_envs = {rollout_steps} x {num_envs} = {samples}"
    if batch_size is not None and minibatch_size is not None and int(batch_size) != int(minibatch_size):
        raise ConfigError("minibatch_size", minibatch_size,
                          f"is an alias of batch_size and must equal it (batch_size={batch_size})")
    explicit = batch_size if batch_size is not None else minibatch_size
    derived = None
    if num_minibatches is not None:
        if samples % int(num_minibatches):
            raise ConfigError("num_minibatches", num_minibatches,
                              f"must divide {rollout} (the samples per agent in one rollout)")
        derived = samples // int(num_minibatches)
        if explicit is not None and int(explicit) != derived:
            raise ConfigError("batch_size", explicit, f"is inconsistent with num_minibatches={num_minibatches}: "
                              f"rollout_steps x num_envs / num_minibatches = {samples} / {num_minibatches} = {derived}")
    size = int(explicit) if explicit is not None else (derived or min(64, samples))
    if size > samples:
        raise ConfigError("batch_size", size, f"must be <= {rollout} (the samples per agent in one rollout)")
    return size


@dataclass
class RolloutBatch:
    """A finished rollout, flattened over (time, env) into ``N = T * E`` rows, as tensors.

    ``obs[g]`` / ``actions[g]`` / ``action_masks[g]``: ``[N, m_g, dim]`` per group; every other field
    is ``[N, A]`` in agent order. ``columns[g]`` are the agent columns of group ``g``.
    """

    obs: dict[str, torch.Tensor]
    actions: dict[str, torch.Tensor]
    action_masks: dict[str, torch.Tensor | None]
    log_probs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    active: torch.Tensor
    columns: dict[str, list[int]]

    @property
    def size(self) -> int:
        return int(self.log_probs.shape[0])


class RolloutBuffer:
    """Preallocated rollout of one member (see the module docstring).

    Args:
        capacity: vector steps per rollout (``learn_step``). num_envs: sub-envs the member acts in.
        agent_ids: agents in column order. groups: ``group -> agents`` (parameter-sharing groups).
        obs_dims / action_dims: flat observation and raw-action length per group.
    """

    def __init__(self, capacity: int, num_envs: int, agent_ids: Sequence[str], groups: Mapping[str, Sequence[str]],
                 obs_dims: Mapping[str, int], action_dims: Mapping[str, int]):
        for name, value in (("capacity", capacity), ("num_envs", num_envs)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ConfigError(name, value, "must be an integer >= 1")
        self.agent_ids = list(agent_ids)
        grouped = sorted(a for agents in groups.values() for a in agents)
        if grouped != sorted(self.agent_ids):
            raise ConfigError("groups", dict(groups), f"must cover every agent of {self.agent_ids} exactly once")
        self.capacity, self.num_envs = int(capacity), int(num_envs)
        self.groups = {g: list(agents) for g, agents in groups.items()}
        self.columns = {g: [self.agent_ids.index(a) for a in agents] for g, agents in self.groups.items()}
        t, e, a = self.capacity, self.num_envs, len(self.agent_ids)
        self.obs = {g: np.zeros((t, e, len(ags), obs_dims[g]), np.float32) for g, ags in self.groups.items()}
        self.actions = {g: np.zeros((t, e, len(ags), action_dims[g]), np.float32) for g, ags in self.groups.items()}
        self.action_masks: dict[str, np.ndarray | None] = {g: None for g in self.groups}
        self.last_obs = {g: np.zeros((e, len(ags), obs_dims[g]), np.float32) for g, ags in self.groups.items()}
        for name in SCALAR_FIELDS:
            setattr(self, name, np.zeros((t, e, a), np.float32))
        for name in FLAG_FIELDS:
            setattr(self, name, np.zeros((t, e, a), bool))
        self.advantages = np.zeros((t, e, a), np.float32)
        self.returns = np.zeros((t, e, a), np.float32)
        self.pos = 0

    def __len__(self) -> int:
        """Vector steps stored."""
        return self.pos

    @property
    def full(self) -> bool:
        return self.pos >= self.capacity

    def reset(self) -> None:
        """Start a new rollout (the storage is reused)."""
        self.pos = 0
        for g in self.groups:
            if self.action_masks[g] is not None:
                self.action_masks[g][:] = True

    def add(self, obs: Mapping[str, np.ndarray], actions: Mapping[str, np.ndarray], log_probs: np.ndarray,
            values: np.ndarray, rewards: np.ndarray, terminations: np.ndarray, truncations: np.ndarray,
            active: np.ndarray, truncation_values: np.ndarray | None = None,
            action_masks: Mapping[str, np.ndarray | None] | None = None) -> None:
        """Store one vector step: ``obs[g]`` / ``actions[g]`` ``[E, m, dim]``, the rest ``[E, A]``."""
        if self.full:
            raise ConfigError("rollout.pos", self.pos, f"the rollout is full (capacity {self.capacity}); call reset()")
        p = self.pos
        for g in self.groups:
            self.obs[g][p] = obs[g]
            self.actions[g][p] = actions[g]
            mask = (action_masks or {}).get(g)
            if mask is not None:
                if self.action_masks[g] is None:
                    self.action_masks[g] = np.ones(self.actions[g].shape, bool)
                self.action_masks[g][p] = mask
        self.log_probs[p], self.values[p], self.rewards[p] = log_probs, values, rewards
        self.terminations[p], self.truncations[p], self.active[p] = terminations, truncations, active
        self.truncation_values[p] = 0.0 if truncation_values is None else truncation_values
        self.pos += 1

    def set_last_obs(self, obs: Mapping[str, np.ndarray]) -> None:
        """The observation after the last stored step (``[E, m, dim]`` per group), bootstrapped by GAE."""
        for g in self.groups:
            self.last_obs[g][:] = obs[g]

    def compute_advantages(self, last_values: np.ndarray, gamma: float, gae_lambda: float) -> None:
        """Fill ``advantages`` and ``returns`` of the stored steps (``last_values``: ``[E, A]``)."""
        p = self.pos
        adv, ret = compute_gae(self.rewards[:p], self.values[:p], self.terminations[:p], self.truncations[:p],
                               last_values, gamma, gae_lambda, self.truncation_values[:p])
        self.advantages[:p], self.returns[:p] = adv, ret

    def batch(self, device: str | torch.device = "cpu") -> RolloutBatch:
        """The stored steps as a flat :class:`RolloutBatch` (call :meth:`compute_advantages` first)."""
        p, n = self.pos, self.pos * self.num_envs

        def flat(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x[:p]).reshape(n, *x.shape[2:])).to(device)

        masks = {g: None if m is None else flat(m) for g, m in self.action_masks.items()}
        return RolloutBatch(obs={g: flat(x) for g, x in self.obs.items()},
                            actions={g: flat(x) for g, x in self.actions.items()}, action_masks=masks,
                            log_probs=flat(self.log_probs), values=flat(self.values),
                            advantages=flat(self.advantages), returns=flat(self.returns),
                            active=flat(self.active), columns=self.columns)
