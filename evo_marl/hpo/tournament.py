"""Tournament selection with elitism."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from evo_marl.errors import ConfigError
from evo_marl.seeding import SeedLike, numpy_rng

logger = logging.getLogger(__name__)


def member_fitness(member, eval_loop: int) -> float:
    """Mean of a member's last ``eval_loop`` fitness values; NaN, failures and no history give ``-inf``."""
    if getattr(member, "failed", False) or not member.fitness:
        return -math.inf
    value = float(np.mean(member.fitness[-eval_loop:]))
    return value if math.isfinite(value) else -math.inf


class TournamentSelection:
    """Keeps the fittest members: the elite is copied unchanged, the other places go to tournament winners.

    Args:
        tournament_size: members drawn per tournament (the fittest of them wins).
        elitism: keep the best member unchanged (it keeps its index and is never mutated).
        population_size: size of the new population.
        eval_loop: fitness is the mean of each member's last ``eval_loop`` evaluations.
        rng / seed: the explicit generator of every random draw (``seed`` builds one if ``rng`` is None).
        score: what members are ranked by (default: :func:`member_fitness` over ``eval_loop`` evaluations;
            a league ranks by rating or league return); higher is better, ``-inf`` ranks last.
    """

    def __init__(self, tournament_size: int, elitism: bool, population_size: int, eval_loop: int = 1,
                 rng: np.random.Generator | None = None, seed: SeedLike = None, score=None):
        for name, value, low in (("tournament_size", tournament_size, 1), ("population_size", population_size, 1),
                                 ("eval_loop", eval_loop, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(name, value, f"must be an integer >= {low}")
        self.tournament_size, self.elitism = tournament_size, bool(elitism)
        self.population_size, self.eval_loop = population_size, eval_loop
        self.rng = rng if rng is not None else numpy_rng(seed)
        self.score = score

    def _tournament(self, fitness: np.ndarray) -> int:
        size = min(self.tournament_size, len(fitness))
        entrants = self.rng.choice(len(fitness), size=size, replace=False)
        return int(entrants[np.argmax(fitness[entrants])])

    def select(self, population: Sequence) -> tuple[object, list]:
        """``(elite, new_population)``; non-elite places are fresh clones with new indices and RNG streams."""
        if not population:
            raise ConfigError("population", [], "must contain at least one member")
        fitness = np.array([self.score(m) if self.score is not None else member_fitness(m, self.eval_loop)
                            for m in population], dtype=float)
        elite_pos = int(np.argmax(fitness))
        elite = population[elite_pos]
        next_index = max(m.index for m in population) + 1
        new_population = []
        if self.elitism:
            kept = elite.clone(index=elite.index)
            kept.parent, kept.elite, kept.mut = elite.index, True, "None"
            new_population.append(kept)
        while len(new_population) < self.population_size:
            winner = population[self._tournament(fitness)]
            child = winner.clone(index=next_index, seed=int(self.rng.integers(2**63 - 1)))
            child.parent, child.elite, child.mut = winner.index, False, "None"
            new_population.append(child)
            next_index += 1
        for member in new_population:
            member.failed = False
        return elite, new_population
