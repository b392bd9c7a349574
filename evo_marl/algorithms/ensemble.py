"""Acting as an ensemble: several members of one population choose each action together.

The members of an evolved population descend from a few elites, so their policies are close and their errors
partly independent; acting on the consensus of the final population removes some of each member's errors. An
:class:`EnsemblePolicy` is a drop-in for :class:`~evo_marl.algorithms.roles.RolePolicy` (``(obs, infos) -> env
actions``; agents matched by role): continuous actions (``Box``) are the mean of the members' actions, discrete
ones (``Discrete``, ``MultiDiscrete``, ``MultiBinary``) the members' majority vote, ties going to the member
listed first (:func:`ranked_members` lists the fittest first)::

    policy = EnsemblePolicy(ranked_members(population, top=4), env)
    actions = policy(obs, infos)

Members of *different* runs can learn different conventions (one turning left where another turns right), so their
mean can be worse than any of them: ``benchmarks/bench_ensemble.py --across-runs`` measures it (docs/architecture.md
points to the figures).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evo_marl.algorithms.roles import RolePolicy
from evo_marl.errors import ConfigError
from evo_marl.hpo.fitness import population_fitness


def ranked_members(population: Sequence, top: int | None = None, window: int = 1) -> list:
    """The members of ``population`` from the fittest down (mean of their last ``window`` evaluations; failed or
    unevaluated members last, ties in population order); ``top``: only the first ``top`` of them."""
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= len(population)):
        raise ConfigError("top", top, f"must be a number of members from 1 to the population's {len(population)}")
    fitness = population_fitness(population, window)
    order = sorted(range(len(population)), key=lambda i: -fitness[i])  # stable: ties keep population order
    return [population[i] for i in order[:top]]


def majority_vote(actions: np.ndarray) -> np.ndarray:
    """Per element, the value most members chose (``actions``: ``[members, ...]``); ties go to the first member."""
    agree = (actions[:, None] == actions[None, :]).sum(axis=1)  # [members, ...]: how many members share each choice
    first_most = agree.argmax(axis=0)[None]  # argmax keeps the first of equal counts
    return np.take_along_axis(actions, first_most, axis=0)[0]


class EnsemblePolicy:
    """``(obs, infos) -> env actions`` of several members acting together (see the module docstring).

    Args:
        members: the members, the one whose choice wins a tied vote first. Each acts by role as a
            :class:`RolePolicy`, without exploration where its training mode is off.
        env: where the agents' spaces come from, as for :class:`RolePolicy`.

    Raises:
        ConfigError: no members.
    """

    def __init__(self, members: Sequence[Any], env: Any = None):
        if not members:
            raise ConfigError("members", list(members), "must hold at least one member to act")
        self.members = list(members)
        self.policies = [RolePolicy(member, env) for member in self.members]

    @property
    def label(self) -> str:
        """Which members act, e.g. ``ensemble of 4 (3, 1, 0, 2)`` (member indices, first member first)."""
        return f"ensemble of {len(self.members)} ({', '.join(str(m.index) for m in self.members)})"

    def __call__(self, obs: Mapping[str, np.ndarray], infos: Mapping | None = None) -> dict:
        per_member = [policy(obs, infos) for policy in self.policies]
        if len(per_member) == 1:
            return per_member[0]
        return {agent: _combine(np.stack([actions[agent] for actions in per_member])) for agent in per_member[0]}


def _combine(actions: np.ndarray) -> np.ndarray:
    """The members' actions ``[members, ...]`` as one: the mean of continuous ones, the vote of discrete ones."""
    if np.issubdtype(actions.dtype, np.floating):
        return actions.mean(axis=0).astype(actions.dtype)
    return majority_vote(actions)
