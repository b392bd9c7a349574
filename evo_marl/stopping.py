"""Early-stopping criteria, checked once per generation on the :class:`GenerationRecord`.

Each criterion keeps what it needs between generations in ``state_dict()`` so a resumed run stops at
the same generation as an uninterrupted one. The criteria here are generic (they read fitness); env
families contribute their own through their registration (``EnvFamily.stopping``), which configs name
in ``training.stopping.criteria``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from evo_marl import validation
from evo_marl.tracking.records import GenerationRecord


class StoppingCriterion:
    """Base class: ``update(record)`` returns True when training should stop.

    While a run is going, ``population`` is the runner's live population list, in the order of
    ``record.members`` when ``update`` is called (e.g. for a criterion that tests the best member on
    held-out episodes before it stops the run); None until a runner takes the criterion.
    """

    name = "criterion"
    population: list | None = None

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
        self.target = validation.number("target", target)

    def update(self, record: GenerationRecord) -> bool:
        return math.isfinite(record.best_fitness) and record.best_fitness >= self.target


class ConvergenceCriterion(StoppingCriterion):
    """Stop when the mean of the last ``window`` best fitnesses is at least ``target`` for ``patience``
    consecutive generations (a sliding window with patience, robust to one lucky evaluation)."""

    name = "convergence"

    def __init__(self, target: float, window: int = 5, patience: int = 3):
        self.target = validation.number("target", target)
        self.window = validation.positive_int("window", window)
        self.patience = validation.positive_int("patience", patience)
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


GENERIC_CRITERIA: dict[str, type[StoppingCriterion]] = {"target": TargetFitness, "convergence": ConvergenceCriterion}
