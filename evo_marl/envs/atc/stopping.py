"""ATC's stopping criterion: a run is done once its best member flies clean evaluations in a row."""

from __future__ import annotations

import math
from typing import Any

from evo_marl import validation
from evo_marl.envs.atc.evaluation import OPTIMUM
from evo_marl.errors import ConfigError
from evo_marl.stopping import StoppingCriterion
from evo_marl.tracking.records import GenerationRecord


class ConflictFreeStreak(StoppingCriterion):
    """ATC: stop after ``k`` consecutive evaluations in which the best member had no loss of separation
    and every aircraft reached its waypoint (env metrics ``los_events`` and ``waypoint_fraction``).

    ``min_return_fraction`` (e.g. 0.9) also asks the best member's fitness (team return) to reach that
    fraction of the scenario's optimum (:data:`~evo_marl.envs.atc.evaluation.OPTIMUM`, the five core
    scenarios): the run then stops when the scenario is *solved*, not merely flown clean.
    ``env_id``: the experiment's env (given by the experiment; needed with ``min_return_fraction``).
    """

    name = "conflict_free_streak"

    def __init__(self, k: int = 3, min_return_fraction: float | None = None, env_id: str | None = None):
        self.k, self.streak = validation.positive_int("k", k), 0
        self.min_return = None
        if min_return_fraction is not None:
            fraction = validation.number("min_return_fraction", min_return_fraction, 0.0, 1.0)
            scenario = str(env_id).split("/", 1)[-1]
            if scenario not in OPTIMUM:
                raise ConfigError("min_return_fraction", min_return_fraction, f"needs a scenario with a known optimum "
                                  f"({', '.join(sorted(OPTIMUM))}), not env {env_id!r}")
            self.min_return = fraction * OPTIMUM[scenario]

    def update(self, record: GenerationRecord) -> bool:
        best = record.best
        metrics = best.eval_metrics
        clean = metrics.get("los_events", math.inf) == 0 and metrics.get("waypoint_fraction", 0.0) >= 1.0
        if self.min_return is not None:
            clean = clean and best.fitness >= self.min_return
        self.streak = self.streak + 1 if clean else 0
        return self.streak >= self.k

    def state_dict(self) -> dict[str, Any]:
        return {"streak": self.streak}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak = int(state.get("streak", 0))
