"""PBT's t-test selection (Jaderberg et al. 2017, "Population Based Training of Neural Networks", arXiv 1711.09846).

Every generation each member meets one other member drawn uniformly at random (a binary tournament). It is
replaced by a clone of that opponent, which the mutation operator then explores, only when the opponent's last
``window`` evaluations are **significantly** higher than its own (one-sided Welch's t-test at level
``significance``); otherwise it stays as it is, unmutated, and trains on. The fittest member (by the run's
fitness) is always kept.

Why: a tournament copies whoever ranks higher, however small the margin. On a plateau (every member scoring
about the same, e.g. members that have all learnt one safe but unproductive behaviour) the steadiest member wins
nearly every draw, so the population collapses onto one lineage and its learning rate drifts to the floor of its
range (measured: ``docs/architecture.md``, selection strategies). Under the t-test a member whose evaluations
still swing while it learns is not culled by a steady one a few points higher, while members that are clearly
and consistently behind are still replaced.

Rules at the edges: a member with fewer than two evaluations in the window is never replaced (no variance to
test) unless it failed; two samples without variance differ significantly when their means differ; a failed member
(non-finite fitness) is replaced by a clone of the best.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evo_marl import validation
from evo_marl.hpo.fitness import best_index
from evo_marl.hpo.tournament import burning_in, fitness_array, hold_in_place, keep_or_replace
from evo_marl.seeding import RngState, SeedLike, numpy_rng


def significantly_greater(higher: Sequence[float], lower: Sequence[float], significance: float) -> bool:
    """One-sided Welch's t-test: is the mean of ``higher`` significantly above the mean of ``lower``?

    Needs at least two finite values in each sample (else False). Two samples without variance differ
    significantly exactly when the first mean is the larger.
    """
    a = np.asarray([v for v in higher if np.isfinite(v)], dtype=float)
    b = np.asarray([v for v in lower if np.isfinite(v)], dtype=float)
    if a.size < 2 or b.size < 2 or a.mean() <= b.mean():
        return False
    var_a, var_b = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if var_a + var_b == 0.0:
        return True
    from scipy import stats  # imported here: scipy loads slowly and only this strategy needs it

    t = (a.mean() - b.mean()) / np.sqrt(var_a + var_b)
    dof = (var_a + var_b) ** 2 / (var_a**2 / (a.size - 1) + var_b**2 / (b.size - 1))  # Welch-Satterthwaite
    return bool(stats.t.sf(t, dof) < significance)


class TTestSelection(RngState):
    """PBT's t-test selection: replace a member by a random opponent only when the opponent is significantly fitter.

    Same interface as :class:`~evo_marl.hpo.tournament.TournamentSelection`: ``select`` once per generation, then
    ``Mutations.mutation`` explores the members whose ``elite`` flag is False (the replacements).

    Args:
        population_size: members in the population (selection keeps every slot).
        significance: level of the one-sided Welch's t-test (Jaderberg et al. do not state theirs; 0.05 is the
            conventional choice), in (0, 1).
        window: the last ``window`` evaluations of each member are the samples of the test (at least 2; the paper
            compares the last 10 episode returns).
        eval_loop: the fitness window used to find the best member when ``select`` is called without ``fitness``.
        rng / seed: the explicit generator of every random draw (``seed`` builds one if ``rng`` is None).
        burn_in_steps: no selection or mutation until every member has trained this many env steps (0: none).
    """

    def __init__(self, population_size: int, significance: float = 0.05, window: int = 4, eval_loop: int = 1,
                 rng: np.random.Generator | None = None, seed: SeedLike = None, burn_in_steps: int = 0):
        self.population_size = validation.positive_int("population_size", population_size)
        self.significance = validation.number("significance", significance, 0.0, 1.0, low_open=True, high_open=True)
        self.window = validation.positive_int("window", window, low=2)
        self.eval_loop = validation.positive_int("eval_loop", eval_loop)
        self.burn_in_steps = int(validation.number("burn_in_steps", burn_in_steps, 0, integer=True))
        self.rng = rng if rng is not None else numpy_rng(seed)

    def select(self, population: Sequence, fitness: Sequence[float] | None = None) -> tuple[Any, list]:
        """``(elite, new_population)``: kept members in place, replaced ones as clones of their opponents."""
        values = fitness_array(population, fitness, self.eval_loop)
        best = best_index(values)
        elite = population[best]
        next_index = max(m.index for m in population) + 1
        if burning_in(population, self.burn_in_steps):
            return elite, hold_in_place(population, values, best, next_index, self.rng)
        sources = [self._source(k, population, values, best) for k in range(len(population))]
        return elite, keep_or_replace(population, sources, next_index, self.rng)

    def _source(self, k: int, population: Sequence, values: np.ndarray, best: int) -> int | None:
        """The member whose clone replaces slot ``k``, or None to keep it (decided on the old population)."""
        if k == best and np.isfinite(values[k]):
            return None
        if not np.isfinite(values[k]):
            return best if np.isfinite(values[best]) else None
        opponent = int(self.rng.integers(len(population) - 1))
        opponent += opponent >= k  # uniform over the other members
        if not np.isfinite(values[opponent]):
            return None
        mine, theirs = population[k].fitness[-self.window:], population[opponent].fitness[-self.window:]
        return opponent if significantly_greater(theirs, mine, self.significance) else None

    def __repr__(self) -> str:
        return (f"TTestSelection(population_size={self.population_size}, significance={self.significance}, "
                f"window={self.window}, burn_in_steps={self.burn_in_steps})")
