"""ATC's stopping criterion: a run is done once its best member flies clean evaluations in a row."""

from __future__ import annotations

import math
from typing import Any

from evo_marl import validation
from evo_marl.stopping import StoppingCriterion
from evo_marl.tracking.records import GenerationRecord


class ConflictFreeStreak(StoppingCriterion):
    """ATC: stop after ``k`` consecutive evaluations in which the best member had no loss of separation
    and every aircraft reached its waypoint (env metrics ``los_events`` and ``waypoint_fraction``)."""

    name = "conflict_free_streak"

    def __init__(self, k: int = 3):
        self.k, self.streak = validation.positive_int("k", k), 0

    def update(self, record: GenerationRecord) -> bool:
        metrics = record.best.eval_metrics
        clean = metrics.get("los_events", math.inf) == 0 and metrics.get("waypoint_fraction", 0.0) >= 1.0
        self.streak = self.streak + 1 if clean else 0
        return self.streak >= self.k

    def state_dict(self) -> dict[str, Any]:
        return {"streak": self.streak}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak = int(state.get("streak", 0))
