"""The batched acting and learning of one collection phase, for the trainers' phases to call.

A phase builds an :class:`OffPolicyBatching` or :class:`OnPolicyBatching` when it starts (stacking the
members' networks and optimizer states), calls ``act`` and ``learn`` every vector step instead of
looping over members, and ``close`` when it ends (writing the stacks back into the members, which stay
the source of truth for evaluation, selection, mutation and checkpoints). Member ``k`` acts in
sub-envs ``[k*E, (k+1)*E)``; failed members are left out (the phase gives them random actions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from evo_marl.algorithms.ippo import PolicyStep
from evo_marl.buffers.rollout import RolloutBuffer
from evo_marl.population.off_policy import StackedOffPolicy, stacked_batch
from evo_marl.population.on_policy import StackedPPO


def _rows(sel: Sequence[int], num_envs: int, total: int) -> np.ndarray | None:
    """Sub-env rows of members ``sel`` (None when that is every row, in order)."""
    if len(sel) * num_envs == total:
        return None
    return np.concatenate([np.arange(k * num_envs, (k + 1) * num_envs) for k in sel])


def member_rows(values: dict, rows: np.ndarray | None) -> dict:
    """``agent -> array`` restricted to ``rows``; infos (``agent -> {key: array}``) too."""
    if rows is None:
        return values
    return {a: ({key: np.asarray(x)[rows] for key, x in v.items()} if isinstance(v, dict) else np.asarray(v)[rows])
            for a, v in values.items()}


class OffPolicyBatching:
    """Batched acting and learning of a MADDPG / MATD3 population during one phase.

    Args:
        population: the members. memory: the shared replay buffer. num_envs: sub-envs per member.
        learning_delay: transitions in the buffer before anyone learns. grouping: see
            :class:`~evo_marl.population.network.StackedNetwork`.
    """

    def __init__(self, population: list, memory, num_envs: int, learning_delay: int, grouping: str = "pad"):
        self.population, self.memory, self.num_envs, self.learning_delay = population, memory, num_envs, learning_delay
        self.learner = StackedOffPolicy(population, grouping)
        self._last: dict[int, tuple[dict[str, torch.Tensor], int]] = {}

    def act(self, obs: dict, infos: dict | None) -> tuple[list[int], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Members that act (not failed), and their env and raw actions ``agent -> [S * E, ...]``."""
        sel = [k for k, m in enumerate(self.population) if not m.failed]
        if not sel:
            return sel, {}, {}
        rows = _rows(sel, self.num_envs, len(next(iter(obs.values()))))
        env_actions, raw = self.learner.get_action(sel, member_rows(obs, rows), member_rows(infos or {}, rows) or None)
        return sel, env_actions, raw

    def learn(self, pending: np.ndarray) -> None:
        """Every member whose ``pending`` transitions (``[P]``, updated in place) cover its ``learn_step``
        learns as often as they do, as ``OffPolicyPhase`` would call ``member.learn``: the same buffer
        samples, drawn in the same order; round ``r`` is every due member's ``r``-th update."""
        memory, due = self.memory, []
        for k, member in enumerate(self.population):
            if member.failed or len(memory) < member.batch_size or memory.counter <= self.learning_delay:
                pending[k] = 0.0
                continue
            count = int(pending[k] // member.learn_step)
            pending[k] -= count * member.learn_step
            if count:
                due.append((k, [memory.sample_indices(member.batch_size) for _ in range(count)]))
        for r in range(max((len(rows) for _, rows in due), default=0)):
            sel = [k for k, rows in due if len(rows) > r]
            batch = stacked_batch(memory, self.learner.template, [rows[r] for k, rows in due if len(rows) > r])
            losses = self.learner.learn(sel, batch)
            for s, k in enumerate(sel):
                self._last[k] = (losses, s)

    def close(self) -> dict[int, dict[str, float]]:
        """Write the stacks back into the members; the last losses of every member that learned."""
        self.learner.write_back()
        out = {}
        for k, (losses, s) in self._last.items():
            values = {name: float(t[s]) for name, t in losses.items()}
            out[k] = {name: v for name, v in values.items() if not np.isnan(v)}
        return out


class OnPolicyBatching:
    """Batched acting and learning of an IPPO population during one phase (arguments as :class:`OffPolicyBatching`)."""

    def __init__(self, population: list, num_envs: int, grouping: str = "pad"):
        self.population, self.num_envs = population, num_envs
        self.learner = StackedPPO(population, grouping)

    def act(self, obs: dict, infos: dict | None) -> list[PolicyStep | None]:
        """Each member's :class:`PolicyStep` (None for failed members)."""
        sel = [k for k, m in enumerate(self.population) if not m.failed]
        steps: list[PolicyStep | None] = [None] * len(self.population)
        if sel:
            rows = _rows(sel, self.num_envs, len(next(iter(obs.values()))))
            for k, step in zip(sel, self.learner.act(sel, member_rows(obs, rows), member_rows(infos or {}, rows))):
                steps[k] = step
        return steps

    def truncation_values(self, sel: Sequence[int], final_obs: dict, terminations: np.ndarray,
                          truncations: np.ndarray) -> np.ndarray:
        """``V(final observation)`` ``[S * E, A]`` of members ``sel`` where a step was truncated, else 0."""
        rows = _rows(sel, self.num_envs, len(terminations))
        pick = (lambda x: x) if rows is None else (lambda x: x[rows])
        return self.learner.truncation_values(sel, member_rows(final_obs, rows), pick(terminations), pick(truncations))

    def learn(self, sel: Sequence[int], buffers: Sequence[RolloutBuffer], next_obs: dict) -> list[dict[str, float]]:
        """PPO epochs of members ``sel`` on their rollouts (bootstrapped from ``next_obs``), all at once."""
        e = self.num_envs
        for k, buffer in zip(sel, buffers):
            member = self.population[k]
            buffer.set_last_obs(member.group_obs({a: next_obs[a][k * e:(k + 1) * e] for a in member.agent_ids}))
        return self.learner.learn(sel, buffers)

    def close(self) -> None:
        self.learner.write_back()
