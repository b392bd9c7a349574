"""Collection phases whose members act and learn as stacks: drop-in subclasses of the trainers' phases.

:class:`BatchedOffPolicyPhase` and :class:`BatchedOnPolicyPhase` stack the members when a phase starts,
act for every member with one forward per parameter-sharing group, learn for all members due at a vector
step in one batched update (the same buffer samples, drawn in the same order, and the same per-member
random streams as the member-by-member phases), and write the stacks back into the members when the
phase ends: members stay the source of truth for evaluation, selection, mutation and checkpoints. Member
``k`` acts in sub-envs ``[k*E, (k+1)*E)``; failed members are left out (they act randomly, as in the plain
phases). If the batched path raises, the stacks are written back and the rest of the phase runs member by
member (with one warning).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from evo_marl.buffers.rollout import RolloutBuffer
from evo_marl.population.off_policy import StackedOffPolicy, stacked_batch
from evo_marl.population.on_policy import StackedPPO
from evo_marl.population.transfer import member_rows
from evo_marl.training.off_policy import OffPolicyPhase
from evo_marl.training.on_policy import OnPolicyPhase

logger = logging.getLogger(__name__)


def _member_rows(values: dict, rows: np.ndarray | None) -> dict:
    """``agent -> array`` (or infos ``agent -> {key: array}``) restricted to ``rows`` (None: all)."""
    if rows is None:
        return values
    return {a: ({key: np.asarray(x)[rows] for key, x in v.items()} if isinstance(v, dict) else np.asarray(v)[rows])
            for a, v in values.items()}


class _Batched:
    """What both batched phases share: the stacks' life cycle and the fall-back to member-by-member work."""

    learner = None

    def __init__(self, *args, grouping: str = "auto", precision: str = "float32", **kwargs):
        super().__init__(*args, **kwargs)
        self.grouping, self.precision = grouping, precision

    def _stacked(self, cls: type, population: list):
        """The population as stacks, or None (members then work one by one) if it cannot be stacked."""
        try:
            return cls(population, self.grouping, self.precision)
        except Exception as err:
            logger.warning("batched learning is off for this generation (%s: %s)", type(err).__name__, err)
            return None

    def _acting(self, population: list) -> tuple[list[int], np.ndarray | None]:
        """Members that act as a stack (not failed), and their rows (None: every row)."""
        sel = [k for k, m in enumerate(population) if not m.failed]
        return sel, None if len(sel) == len(population) else member_rows(sel, self.num_envs)

    def _stop(self, population: list, last_losses: list | None, stage: str, err: Exception) -> None:
        logger.warning("batched %s failed (%s: %s); the members continue one by one for the rest of this generation",
                       stage, type(err).__name__, err)
        self._write_back(population, last_losses)

    def _write_back(self, population: list, last_losses: list | None) -> None:
        if self.learner is not None:
            learner, self.learner = self.learner, None
            learner.write_back()
            self._merge_losses(last_losses)

    def _merge_losses(self, last_losses: list | None) -> None:
        """Hook: copy the stacked path's last losses into ``last_losses``."""


class BatchedOffPolicyPhase(_Batched, OffPolicyPhase):
    """:class:`~evo_marl.training.off_policy.OffPolicyPhase` acting and learning as stacks (see the module
    docstring). ``grouping``: how members with different architectures are stacked
    (:data:`~evo_marl.population.network.GROUPINGS`); ``precision``: of learning
    (:mod:`evo_marl.population.precision`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last: dict[int, tuple[dict[str, torch.Tensor], int]] = {}  # member -> (losses [S], its position)
        self._losses: list | None = None

    def _begin(self, population: list) -> None:
        self._last = {}
        self.learner = self._stacked(StackedOffPolicy, population)

    def _act_all(self, population: list, obs: dict, infos: dict, raw: dict, rng: np.random.Generator) -> None:
        if self.learner is None:
            return super()._act_all(population, obs, infos, raw, rng)
        sel, rows = self._acting(population)
        try:
            env_act, raw_act = self.learner.get_action(sel, _member_rows(obs, rows), _member_rows(infos, rows)) \
                if sel else ({}, {})
        except Exception as err:
            self._stop(population, None, "acting", err)
            return super()._act_all(population, obs, infos, raw, rng)
        where = slice(None) if rows is None else rows
        for agent in self.agents:
            raw[agent] = np.zeros((self.env.num_envs, population[0].codecs[agent].raw_dim), np.float32)
            if sel:
                self.env_actions[agent][where] = env_act[agent]
                raw[agent][where] = raw_act[agent]
        for k, member in enumerate(population):
            if member.failed:
                self.act_randomly(k, rng)

    def _learn_all(self, population: list, pending: np.ndarray, last_losses: list[dict[str, float]]) -> None:
        if self.learner is None:
            return super()._learn_all(population, pending, last_losses)
        self._losses = last_losses  # where the stacked path's last losses go when the stacks are written back
        memory, due = self.memory, []
        for k, member in enumerate(population):  # as OffPolicyPhase._learn, drawing the same samples in order
            if member.failed or len(memory) < member.batch_size or memory.counter <= self.learning_delay:
                pending[k] = 0.0
                continue
            count = int(pending[k] // member.learn_step)
            pending[k] -= count * member.learn_step
            if count:
                due.append((k, [memory.sample_indices(member.batch_size) for _ in range(count)]))
        try:
            for r in range(max((len(rows) for _, rows in due), default=0)):  # round r: every due member's r-th update
                sel = [k for k, rows in due if len(rows) > r]
                indices = [rows[r] for _, rows in due if len(rows) > r]
                batch = stacked_batch(memory, self.learner.template, indices)
                losses = self.learner.learn(sel, batch, [len(i) for i in indices])
                for s, k in enumerate(sel):
                    self._last[k] = (losses, s)
        except Exception as err:
            self._stop(population, last_losses, "learning", err)

    def _merge_losses(self, last_losses: list | None) -> None:
        last_losses = self._losses if last_losses is None else last_losses
        if last_losses is not None:
            for k, (losses, s) in self._last.items():
                values = {name: float(t[s]) for name, t in losses.items()}
                last_losses[k] = {name: v for name, v in values.items() if not np.isnan(v)}
        self._last = {}

    def _end(self, population: list, last_losses: list[dict[str, float]]) -> None:
        self._write_back(population, last_losses)


class BatchedOnPolicyPhase(_Batched, OnPolicyPhase):
    """:class:`~evo_marl.training.on_policy.OnPolicyPhase` acting and learning as stacks (see the module
    docstring and :class:`BatchedOffPolicyPhase`)."""

    def _begin(self, population: list) -> None:
        self.learner = self._stacked(StackedPPO, population)

    def _act_all(self, population: list, obs: dict, infos: dict, rng: np.random.Generator) -> list:
        if self.learner is None:
            return super()._act_all(population, obs, infos, rng)
        sel, rows = self._acting(population)
        try:
            steps = self.learner.act(sel, _member_rows(obs, rows), _member_rows(infos, rows)) if sel else []
        except Exception as err:
            self._stop(population, None, "acting", err)
            return super()._act_all(population, obs, infos, rng)
        out = [None] * len(population)
        for k, step in zip(sel, steps):
            out[k] = step
            for agent in self.agents:
                self.env_actions[agent][self.slice(k)] = step.env_actions[agent]
        for k, member in enumerate(population):
            if member.failed:
                self.act_randomly(k, rng)
        return out

    def _truncation_values(self, population: list, members: list[int], final_obs: dict, term: np.ndarray,
                           trunc: np.ndarray) -> dict[int, np.ndarray]:
        if self.learner is None or not members:
            return super()._truncation_values(population, members, final_obs, term, trunc)
        rows = member_rows(members, self.num_envs)
        values = self.learner.truncation_values(members, _member_rows(final_obs, rows), term[rows], trunc[rows])
        e = self.num_envs
        return {k: values[i * e:(i + 1) * e] for i, k in enumerate(members)}

    def _learn_all(self, population: list, members: list[int], buffers: list[RolloutBuffer], next_obs: dict,
                   last_losses: list[dict[str, float]]) -> None:
        if self.learner is None or not members:
            return super()._learn_all(population, members, buffers, next_obs, last_losses)
        try:
            for k in members:
                view, _ = self.member_view(k, next_obs, None)
                buffers[k].set_last_obs(population[k].group_obs(view))
            losses = self.learner.learn(members, [buffers[k] for k in members])
        except Exception as err:
            self._stop(population, last_losses, "learning", err)
            return super()._learn_all(population, members, buffers, next_obs, last_losses)
        for k, member_losses in zip(members, losses):
            last_losses[k] = member_losses
            buffers[k].reset()

    def _end(self, population: list, last_losses: list[dict[str, float]]) -> None:
        self._write_back(population, last_losses)
