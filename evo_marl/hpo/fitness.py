"""The one fitness definition of a run, used by selection, reports, ``best_member`` and stopping.

A member's evaluation in generation ``g`` is its mean team return over that generation's evaluation
episodes (no exploration noise; every member plays the same episodes). Its **fitness** is the mean of
its last ``window`` evaluations (``window`` = 1 by default: the latest evaluation; a larger window
smooths noisy envs). A member that failed (acting, learning or evaluation raised, or its weights went
non-finite), has no evaluation yet, or whose value is not finite ranks last: its fitness is ``-inf``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def member_fitness(member, window: int = 1) -> float:
    """Mean of the member's last ``window`` evaluations; ``-inf`` for failed, unevaluated or non-finite."""
    if getattr(member, "failed", False) or not member.fitness:
        return -math.inf
    value = float(np.mean(member.fitness[-window:]))
    return value if math.isfinite(value) else -math.inf


def population_fitness(population: Sequence, window: int = 1) -> list[float]:
    """:func:`member_fitness` of every member, in population order."""
    return [member_fitness(m, window) for m in population]


def best_index(fitness: Sequence[float]) -> int:
    """Position of the highest fitness (the first on ties; NaN counts as worst)."""
    values = np.array([f if math.isfinite(f) else -math.inf for f in fitness], dtype=float)
    return int(np.argmax(values))


def best_member(population: Sequence, window: int = 1):
    """The member with the highest :func:`member_fitness`."""
    return population[best_index(population_fitness(population, window))]
