"""What one generation produced: the record every metric writer receives."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MemberRecord:
    """One member after evaluation (before selection).

    ``fitness`` is the run's fitness (:mod:`evo_marl.hpo.fitness`: the mean of the member's last
    ``fitness_window`` evaluations, NaN where it failed); ``eval_return`` is this generation's evaluation.
    """

    index: int
    parent: int | None
    mutation: str
    fitness: float
    steps: int
    hyperparameters: dict[str, Any]
    architecture: dict[str, list[int]]
    activation: str
    parameter_count: int
    train_score: float = math.nan  # mean return of the training episodes completed this generation
    eval_metrics: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    failed: bool = False
    eval_return: float = math.nan  # mean team return over this generation's evaluation episodes


@dataclass
class GenerationRecord:
    """Everything logged for one generation."""

    generation: int
    total_steps: int
    members: list[MemberRecord]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (env, acting, learning, ...)
    transitions_per_second: float = math.nan
    wall_time: float = 0.0  # seconds since the run started
    stop_reason: str | None = None

    @property
    def fitnesses(self) -> list[float]:
        return [m.fitness for m in self.members]

    def _finite(self) -> list[float]:
        return [f for f in self.fitnesses if math.isfinite(f)]

    @property
    def best(self) -> MemberRecord:
        ranked = sorted(self.members, key=lambda m: m.fitness if math.isfinite(m.fitness) else -math.inf)
        return ranked[-1]

    @property
    def best_fitness(self) -> float:
        finite = self._finite()
        return max(finite) if finite else math.nan

    @property
    def mean_fitness(self) -> float:
        finite = self._finite()
        return sum(finite) / len(finite) if finite else math.nan

    @property
    def min_fitness(self) -> float:
        finite = self._finite()
        return min(finite) if finite else math.nan

    def summary(self) -> dict[str, Any]:
        """Population-level scalars, namespaced as in the tracking contract."""
        out = {
            "generation": self.generation,
            "train/total_steps": self.total_steps,
            "evo/best_fitness": self.best_fitness,
            "evo/mean_fitness": self.mean_fitness,
            "evo/min_fitness": self.min_fitness,
            "evo/best_member": self.best.index,
            "train/transitions_per_second": self.transitions_per_second,
            "train/wall_time": self.wall_time,
        }
        out.update({f"time/{k}": v for k, v in self.timings.items()})
        out.update({f"eval/{k}": v for k, v in self.best.eval_metrics.items()})
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
