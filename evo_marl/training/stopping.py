"""Early-stopping criteria, checked once per generation on the :class:`GenerationRecord`.

Each criterion keeps what it needs between generations in ``state_dict()`` so a resumed run stops at
the same generation as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from evo_marl.errors import ConfigError
from evo_marl.training.records import GenerationRecord


class StoppingCriterion:
    """Base class: ``update(record)`` returns True when training should stop."""

    name = "criterion"

    def update(self, record: GenerationRecord) -> bool:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class TargetFitness(StoppingCriterion):
    """Stop as soon as the best member's fitness reaches ``target``."""

    name = "target"

    def __init__(self, target: float):
        if not isinstance(target, (int, float)) or not math.isfinite(target):
            raise ConfigError("target", target, "must be a finite number")
        self.target = float(target)

    def update(self, record: GenerationRecord) -> bool:
        return math.isfinite(record.best_fitness) and record.best_fitness >= self.target


class ConvergenceCriterion(StoppingCriterion):
    """Stop when the mean of the last ``window`` best fitnesses is at least ``target`` for ``patience``
    consecutive generations (a sliding window with patience, robust to one lucky evaluation)."""

    name = "convergence"

    def __init__(self, target: float, window: int = 5, patience: int = 3):
        if not isinstance(target, (int, float)) or not math.isfinite(target):
            raise ConfigError("target", target, "must be a finite number")
        for field, value in (("window", window), ("patience", patience)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(field, value, "must be an integer >= 1")
        self.target, self.window, self.patience = float(target), window, patience
        self.history: deque[float] = deque(maxlen=window)
        self.streak = 0

    def update(self, record: GenerationRecord) -> bool:
        best = record.best_fitness
        self.history.append(best if math.isfinite(best) else -math.inf)
        full = len(self.history) == self.window
        self.streak = self.streak + 1 if full and sum(self.history) / self.window >= self.target else 0
        return self.streak >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "streak": self.streak}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = deque(state.get("history", []), maxlen=self.window)
        self.streak = int(state.get("streak", 0))


class ConflictFreeStreak(StoppingCriterion):
    """ATC: stop after ``k`` consecutive evaluations in which the best member had no loss of separation
    and every aircraft reached its waypoint (env metrics ``los_events`` and ``waypoint_fraction``)."""

    name = "conflict_free_streak"

    def __init__(self, k: int = 3):
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError("k", k, "must be an integer >= 1")
        self.k, self.streak = k, 0

    def update(self, record: GenerationRecord) -> bool:
        metrics = record.best.eval_metrics
        clean = metrics.get("los_events", math.inf) == 0 and metrics.get("waypoint_fraction", 0.0) >= 1.0
        self.streak = self.streak + 1 if clean else 0
        return self.streak >= self.k

    def state_dict(self) -> dict[str, Any]:
        return {"streak": self.streak}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak = int(state.get("streak", 0))
