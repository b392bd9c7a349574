"""Multiple-frequency population-based training (MF-PBT; Doulazmi et al. 2025, arXiv 2506.03225).

Single-frequency PBT ranks every member after every generation, so it favours settings that pay off
quickly (a learning rate that drops early, a collapsed population) over ones that would win later.
MF-PBT splits the population into sub-populations that evolve at different frequencies: sub-population
``i`` evolves only every ``frequencies[i]`` generations, so the slow ones judge members over longer
horizons while the fast ones keep PBT's sample efficiency. Every member still trains every generation.

When a sub-population is due, its members are ranked by fitness into four brackets (best first):
``winners`` (kept), survivors (kept), ``open_for_migration`` and ``losers``.

* **Exploit**: each loser is replaced by a clone of a winner (round robin, best winner first); only these
  clones are explored by the mutation operator.
* **Migration** (asymmetric): each open member, best first, is compared with the best not yet used member
  of the other sub-populations; if that outsider is fitter it moves in. An outsider from a *slower*
  sub-population comes whole (weights and hyperparameters); one from a *faster* sub-population brings
  its weights but takes the hyperparameters of the destination's best member, so greedy short-horizon
  hyperparameters do not spread into the slow sub-populations. Migrants are not mutated.

Members are assigned to sub-populations by their slot (position in the population list; slots are
split into contiguous, near-equal blocks), which selection preserves, so checkpoints need no extra
bookkeeping. A member with non-finite fitness (failed) is never kept: in a due sub-population it is
treated as a loser, elsewhere it is replaced at once by a clone of its sub-population's best member.
During a burn-in (``burn_in_steps``) no sub-population is due and the generation counter does not advance,
so the frequencies count generations from the end of the burn-in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo_marl import validation
from evo_marl.errors import CheckpointError, ConfigError
from evo_marl.hpo.fitness import best_index, population_fitness
from evo_marl.hpo.tournament import burning_in, keep_unchanged, offspring
from evo_marl.seeding import RngState, SeedLike, numpy_rng

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Move:
    """What happens to one slot in one generation.

    ``kind``: ``keep`` (the member stays, unmutated), ``clone`` (a loser replaced by a clone of the
    winner at ``source``; it is mutated), ``repair`` (a failed member of a sub-population that is not due,
    replaced like a loser), ``migrate`` (a whole clone of the outsider at ``source``), ``migrate_weights``
    (the outsider's weights with the hyperparameters of the member at ``hp_source``). Slots index the
    population passed to :meth:`MultiFrequencyPBT.select`.
    """

    slot: int
    kind: str
    source: int
    hp_source: int | None = None


class MultiFrequencyPBT(RngState):
    """MF-PBT selection: sub-populations evolving at different frequencies, with asymmetric migration.

    Same interface as :class:`~evo_marl.hpo.tournament.TournamentSelection`: ``select`` once per generation,
    then ``Mutations.mutation`` explores the members whose ``elite`` flag is False (the loser clones).

    Args:
        population_size: members in the population (split into ``len(frequencies)`` contiguous sub-populations
            whose sizes differ by at most one).
        frequencies: evolution period of each sub-population in generations, strictly increasing (the paper's
            Brax setting is ``[1, 10, 25, 50]`` with 32 members; ``[1, 5]`` suits 8-16 members). One entry gives
            plain truncation PBT without migration.
        eval_loop: fitness is the mean of each member's last ``eval_loop`` evaluations (when ``select`` is not
            given the fitness).
        winners / open_for_migration / losers: bracket sizes of every sub-population (default: a quarter of
            the sub-population each, at least 1; the rest are survivors). ``open_for_migration=0`` turns
            migration off.
        rng / seed: the explicit generator of every random draw (``seed`` builds one if ``rng`` is None).
        burn_in_steps: no selection or mutation until every member has trained this many env steps (0: none).
    """

    def __init__(self, population_size: int, frequencies: Sequence[int] = (1, 5), eval_loop: int = 1,
                 winners: int | None = None, open_for_migration: int | None = None, losers: int | None = None,
                 rng: np.random.Generator | None = None, seed: SeedLike = None, burn_in_steps: int = 0):
        self.population_size = validation.positive_int("population_size", population_size)
        self.eval_loop = validation.positive_int("eval_loop", eval_loop)
        self.burn_in_steps = int(validation.number("burn_in_steps", burn_in_steps, 0, integer=True))
        if isinstance(frequencies, (str, bytes)) or not isinstance(frequencies, Sequence) or not frequencies:
            raise ConfigError("frequencies", frequencies, "must be a non-empty list of integers")
        for k, f in enumerate(frequencies):
            validation.positive_int(f"frequencies[{k}]", f)
        freqs = [int(f) for f in frequencies]
        if any(a >= b for a, b in zip(freqs, freqs[1:])):
            raise ConfigError("frequencies", frequencies, "must be strictly increasing (fastest sub-population first)")
        self.frequencies = freqs
        self.winners = validation.number("winners", winners, 1, integer=True, optional=True)
        self.losers = validation.number("losers", losers, 1, integer=True, optional=True)
        self.open_for_migration = validation.number("open_for_migration", open_for_migration, 0, integer=True,
                                                    optional=True)
        self.slots = [list(map(int, block)) for block in np.array_split(np.arange(self.population_size), len(freqs))]
        for block in self.slots:
            w, o, l = self.brackets(len(block))
            if w + o + l > len(block):
                raise ConfigError(
                    "population_size", population_size,
                    f"splits into {len(freqs)} sub-populations of {[len(b) for b in self.slots]} members; each needs "
                    f"winners + open_for_migration + losers = {w} + {o} + {l} members (use fewer frequencies, "
                    "more members or smaller brackets)")
        self.rng = rng if rng is not None else numpy_rng(seed)
        self.generation = 0
        self.next_index = 0
        self.last_moves: list[Move] = []

    # ------------------------------------------------------------------ layout
    def brackets(self, size: int) -> tuple[int, int, int]:
        """``(winners, open_for_migration, losers)`` of a sub-population of ``size`` members."""
        quarter = max(1, size // 4)
        open_default = quarter if len(self.frequencies) > 1 else 0
        return (self.winners or quarter, open_default if self.open_for_migration is None else self.open_for_migration,
                self.losers or quarter)

    def subpopulation_of(self, slot: int) -> int:
        """The sub-population of population slot ``slot``."""
        return next(i for i, block in enumerate(self.slots) if slot in block)

    def due(self, generation: int) -> list[bool]:
        """Which sub-populations evolve after generation ``generation`` (counted from 1)."""
        return [generation % f == 0 for f in self.frequencies]

    # ------------------------------------------------------------------ selection
    def select(self, population: Sequence, fitness: Sequence[float] | None = None) -> tuple[object, list]:
        """``(elite, new_population)`` after one generation; the new population keeps every slot's sub-population.

        ``fitness[k]`` ranks ``population[k]`` (NaN, -inf and failed members rank last and are never kept);
        None computes it with :func:`~evo_marl.hpo.fitness.member_fitness` (window ``eval_loop``).
        """
        if len(population) != self.population_size:
            raise ConfigError("population", f"{len(population)} members",
                              f"must have population_size={self.population_size} members")
        values = population_fitness(population, self.eval_loop) if fitness is None else list(fitness)
        if len(values) != len(population):
            raise ConfigError("fitness", f"{len(values)} values", f"must have one value per member ({len(population)})")
        fit = np.array(values, dtype=float)
        fit[~np.isfinite(fit) | np.array([bool(getattr(m, "failed", False)) for m in population])] = -math.inf
        if burning_in(population, self.burn_in_steps):
            due = [False] * len(self.frequencies)
        else:
            self.generation += 1
            due = self.due(self.generation)
        self.last_moves = self._plan(fit, due)
        new_population = self._apply(population, self.last_moves)
        kinds = [m.kind for m in self.last_moves]
        migrants = kinds.count("migrate") + kinds.count("migrate_weights")
        logger.info("MF-PBT generation %d: sub-populations %s evolve; %d clones, %d migrants, %d repaired",
                    self.generation, [i for i, d in enumerate(due) if d],
                    kinds.count("clone"), migrants, kinds.count("repair"))
        return population[best_index(fit)], new_population

    def _plan(self, fit: np.ndarray, due: list[bool]) -> list[Move]:
        moves = [Move(k, "keep", k) for k in range(len(fit))]
        healthy = sorted((k for k in range(len(fit)) if np.isfinite(fit[k])), key=lambda k: (-fit[k], k))
        if not healthy:
            logger.warning("MF-PBT: every member failed; nothing can be copied, the population is kept")
            return moves
        ranked_subs = [sorted(block, key=lambda k: (-fit[k], k)) for block in self.slots]
        for i, ranked in enumerate(ranked_subs):
            w, o, l = self.brackets(len(ranked))
            donors = [k for k in ranked[:w] if np.isfinite(fit[k])] or healthy[:w]
            replaced = [k for k in ranked if not np.isfinite(fit[k])]
            if due[i]:
                replaced = [k for k in ranked[len(ranked) - l:] if k not in replaced] + replaced
            for j, k in enumerate(sorted(replaced, key=lambda k: (-fit[k], k))):
                moves[k] = Move(k, "clone" if due[i] else "repair", donors[j % len(donors)])
        for i, ranked in enumerate(ranked_subs):
            if due[i]:
                self._migrate(i, ranked, fit, moves)
        return moves

    def _migrate(self, sub: int, ranked: list[int], fit: np.ndarray, moves: list[Move]) -> None:
        """Fill ``sub``'s open bracket with fitter outsiders (the asymmetric migration of the paper)."""
        w, o, l = self.brackets(len(ranked))
        survivors_end = len(ranked) - l
        open_slots = [k for k in ranked[max(w, survivors_end - o):survivors_end] if moves[k].kind == "keep"]
        outsiders = sorted((k for k in range(len(fit)) if k not in self.slots[sub] and np.isfinite(fit[k])),
                           key=lambda k: (-fit[k], k))
        pointer = 0
        for k in open_slots:
            if pointer >= len(outsiders):
                break
            outsider = outsiders[pointer]
            if fit[outsider] <= fit[k]:
                continue
            pointer += 1
            if self.frequencies[self.subpopulation_of(outsider)] < self.frequencies[sub]:
                best = next(j for j in ranked if np.isfinite(fit[j]))  # the destination's best (k is finite)
                moves[k] = Move(k, "migrate_weights", outsider, hp_source=best)
            else:
                moves[k] = Move(k, "migrate", outsider)

    def _apply(self, population: Sequence, moves: list[Move]) -> list:
        self.next_index = max(self.next_index, max(m.index for m in population) + 1)
        new_population = []
        for move in moves:
            source = population[move.source]
            if move.kind == "keep":
                member = keep_unchanged(source)
            else:
                member = offspring(source, self.next_index, self.rng)
                self.next_index += 1
                member.elite = move.kind in ("migrate", "migrate_weights")  # migrants arrive unmutated
                if move.kind == "migrate_weights":
                    donor = population[move.hp_source]
                    for name in member.hp_config.names():
                        member.set_hyperparameter(name, getattr(donor, name))
            member.failed = False
            new_population.append(member)
        return new_population

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: generation counter, next member index, RNG state and the layout."""
        return {"strategy": "multi_frequency", "generation": self.generation, "next_index": self.next_index,
                "frequencies": list(self.frequencies), "population_size": self.population_size,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a checkpoint of another layout raises :class:`CheckpointError`."""
        missing = [key for key in ("generation", "next_index", "frequencies", "population_size", "rng")
                   if key not in state]
        if missing:
            raise CheckpointError(f"multi-frequency selection state: field {missing[0]!r} is missing")
        for key in ("frequencies", "population_size"):
            if state[key] != (self.frequencies if key == "frequencies" else self.population_size):
                raise CheckpointError(f"multi-frequency selection state: {key} was {state[key]!r}, now "
                                      f"{getattr(self, key)!r} (resume with the original selection settings)")
        self.generation, self.next_index = int(state["generation"]), int(state["next_index"])
        self.rng.bit_generator.state = state["rng"]

    def __repr__(self) -> str:
        burn_in = f", burn_in_steps={self.burn_in_steps}" if self.burn_in_steps else ""
        return (f"MultiFrequencyPBT(population_size={self.population_size}, frequencies={self.frequencies}, "
                f"sub-populations={[len(b) for b in self.slots]}{burn_in})")
