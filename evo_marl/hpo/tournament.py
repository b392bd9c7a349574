"""Selection strategies: tournament selection with elitism, and no selection (independent members).

Every strategy has the same interface: ``select(population, fitness=None) -> (elite, new_population)``,
called once per generation, plus ``rng``, ``state_dict()`` and ``load_state_dict()`` so a resumed run
selects exactly as an uninterrupted one. ``fitness[k]`` is the run's fitness of ``population[k]``
(:mod:`evo_marl.hpo.fitness`); when it is None the strategy computes it with ``eval_loop`` as the window.
A member kept unchanged (the elite) has ``elite = True`` and is never mutated; replaced places are clones
of tournament winners with new indices, their own RNG streams and ``parent`` set to the winner's index.

**Burn-in** (``burn_in_steps``, as Ray Tune's PBT ``burn_in_period``): until every member has trained that many
env steps, a strategy keeps every member as it is (no selection, no mutation), so members are not judged on
the first evaluations, where a slow starter that will learn best can still rank last; only a failed member is
replaced, by a clone of the best.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from evo_marl import validation
from evo_marl.errors import ConfigError
from evo_marl.hpo.fitness import best_index, member_fitness, population_fitness
from evo_marl.seeding import RngState, SeedLike, numpy_rng

logger = logging.getLogger(__name__)
__all__ = ["NoSelection", "TournamentSelection", "burning_in", "member_fitness"]


def fitness_array(population: Sequence, fitness: Sequence[float] | None, window: int) -> np.ndarray:
    """The fitness of every member as floats (non-finite: -inf), computed with ``window`` when not given."""
    if not population:
        raise ConfigError("population", [], "must contain at least one member")
    values = population_fitness(population, window) if fitness is None else list(fitness)
    if len(values) != len(population):
        raise ConfigError("fitness", f"{len(values)} values", f"must have one value per member ({len(population)})")
    return np.array([v if np.isfinite(v) else -np.inf for v in values], dtype=float)


def burning_in(population: Sequence, burn_in_steps: int) -> bool:
    """True while some member of ``population`` has trained fewer than ``burn_in_steps`` env steps."""
    return burn_in_steps > 0 and min(m.steps[-1] for m in population) < burn_in_steps


def keep_unchanged(member) -> Any:
    """A copy of ``member`` that keeps its index and is not mutated this generation."""
    kept = member.clone(index=member.index)
    kept.parent, kept.elite, kept.mut = member.index, True, "None"
    return kept


def offspring(parent, index: int, rng: np.random.Generator) -> Any:
    """A clone of ``parent`` with a new index and fresh RNG streams, open to mutation."""
    child = parent.clone(index=index, seed=int(rng.integers(2**63 - 1)))
    child.parent, child.elite, child.mut = parent.index, False, "None"
    return child


class TournamentSelection(RngState):
    """Keeps the fittest members: the elite is copied unchanged, the other places go to tournament winners.

    Args:
        tournament_size: members drawn per tournament (the fittest of them wins); at most the population size.
        elitism: keep the best member unchanged (it keeps its index and is never mutated).
        population_size: size of the new population.
        eval_loop: the fitness window when ``select`` is called without ``fitness`` (the AgileRL meaning:
            "evaluate using the last N fitness scores"); the trainers pass the run's fitness instead.
        rng / seed: the explicit generator of every random draw (``seed`` builds one if ``rng`` is None).
        burn_in_steps: no selection or mutation until every member has trained this many env steps (0: none).
    """

    def __init__(self, tournament_size: int, elitism: bool, population_size: int, eval_loop: int = 1,
                 rng: np.random.Generator | None = None, seed: SeedLike = None, burn_in_steps: int = 0):
        validation.positive_int("tournament_size", tournament_size)
        validation.positive_int("population_size", population_size)
        validation.positive_int("eval_loop", eval_loop)
        if tournament_size > population_size:
            raise ConfigError("tournament_size", tournament_size,
                              f"must be <= population_size ({population_size})")
        self.tournament_size, self.elitism = int(tournament_size), validation.flag("elitism", elitism)
        self.population_size, self.eval_loop = int(population_size), int(eval_loop)
        self.burn_in_steps = int(validation.number("burn_in_steps", burn_in_steps, 0, integer=True))
        self.rng = rng if rng is not None else numpy_rng(seed)

    def _tournament(self, fitness: np.ndarray) -> int:
        size = min(self.tournament_size, len(fitness))
        entrants = self.rng.choice(len(fitness), size=size, replace=False)
        return int(entrants[np.argmax(fitness[entrants])])

    def select(self, population: Sequence, fitness: Sequence[float] | None = None) -> tuple[Any, list]:
        """``(elite, new_population)``; non-elite places are fresh clones with new indices and RNG streams."""
        values = fitness_array(population, fitness, self.eval_loop)
        best = best_index(values)
        elite = population[best]
        next_index = max(m.index for m in population) + 1
        if burning_in(population, self.burn_in_steps):
            return elite, hold_in_place(population, values, best, next_index, self.rng)
        new_population = [keep_unchanged(elite)] if self.elitism else []
        while len(new_population) < self.population_size:
            new_population.append(offspring(population[self._tournament(values)], next_index, self.rng))
            next_index += 1
        for member in new_population:
            member.failed = False
        return elite, new_population


def keep_in_place(member) -> Any:
    """``member`` itself, marked as kept this generation: its own parent, elite (so never mutated), healthy."""
    member.parent, member.elite, member.mut, member.failed = member.index, True, "None", False
    return member


def keep_or_replace(population: Sequence, sources: Sequence[int | None], next_index: int,
                    rng: np.random.Generator) -> list:
    """Slot ``k`` keeps its member in place where ``sources[k]`` is None, else gets a healthy clone of
    ``population[sources[k]]`` (new index, open to mutation)."""
    new_population = []
    for member, source in zip(population, sources):
        if source is None:
            new_population.append(keep_in_place(member))
        else:
            new_population.append(offspring(population[source], next_index, rng))
            new_population[-1].failed = False
            next_index += 1
    return new_population


def hold_in_place(population: Sequence, values: np.ndarray, best: int, next_index: int,
                  rng: np.random.Generator) -> list:
    """Burn-in: every member stays as it is (unmutated); a failed one is replaced by a clone of ``population[best]``."""
    any_healthy = bool(np.isfinite(values).any())
    sources = [None if np.isfinite(value) or not any_healthy else best for value in values]
    return keep_or_replace(population, sources, next_index, rng)


class NoSelection(RngState):
    """No selection and no mutation: every member trains on independently (random search, ablations).

    Members are kept as they are (``elite = True`` for all, so mutations skip them).
    """

    def __init__(self, eval_loop: int = 1, rng: np.random.Generator | None = None, seed: SeedLike = None):
        self.eval_loop = validation.positive_int("eval_loop", eval_loop)
        self.rng = rng if rng is not None else numpy_rng(seed)

    def select(self, population: Sequence, fitness: Sequence[float] | None = None) -> tuple[Any, list]:
        values = fitness_array(population, fitness, self.eval_loop)
        return population[best_index(values)], [keep_in_place(member) for member in population]
