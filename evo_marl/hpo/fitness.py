"""The one fitness definition of a run, used by selection, reports, ``best_member`` and stopping.

A member's evaluation in generation ``g`` is its mean team return over that generation's evaluation
episodes (no exploration noise; every member plays the same episodes), or, with a ``fitness_metric`` other
than ``"return"``, the mean of that episode metric of the env (``"clean"``; ``"-episode_length"`` to minimise one):
:func:`evaluation_score`. Its **fitness** is the mean of its last ``window`` evaluations (``window`` = 1 by
default: the latest evaluation; a larger window smooths noisy envs). A member that failed (acting, learning or
evaluation raised, or its weights went non-finite), has no evaluation yet, or whose value is not finite ranks
last: its fitness is ``-inf``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from evo_marl.errors import ConfigError

RETURN = "return"


def check_fitness_metric(field: str, metric: object) -> str:
    """``metric`` if it names what evaluation scores: ``"return"`` or an episode metric, ``-`` first to minimise."""
    name = metric_name(metric) if isinstance(metric, str) else ""
    if not name or name != name.strip() or name.startswith("-"):
        raise ConfigError(field, metric, "must be 'return' (mean team return) or the name of an episode metric of "
                          "the env, with '-' in front to minimise it (e.g. 'clean', '-episode_length')")
    return metric


def metric_name(metric: str) -> str:
    """The episode metric ``metric`` reads (``"-episode_length"`` -> ``"episode_length"``)."""
    return metric[1:] if metric.startswith("-") else metric


def check_metric_reported(field: str, metric: str, reported) -> None:
    """Raise where the env reports episode metrics (``reported``, a collection of names) without ``metric``'s."""
    if metric == RETURN or reported is None or metric_name(metric) in reported:
        return
    names = ", ".join(sorted(reported)) or "none"
    raise ConfigError(field, metric, f"is not an episode metric of this env (it reports: {names}; or use 'return')")


def describe_fitness(metric: str = RETURN, window: int = 1) -> str:
    """A run's fitness in words, for plots and reports (``"mean evaluation team return"``)."""
    what = "mean evaluation team return" if metric == RETURN else f"mean evaluation {metric_name(metric)}"
    what = f"minus the {what}" if metric.startswith("-") else what
    return what + (f", averaged over the last {window} evaluations" if window > 1 else "")


def evaluation_score(returns: np.ndarray, metrics: dict[str, np.ndarray], metric: str = RETURN) -> float:
    """One evaluation's score: the mean team return, or the mean of episode metric ``metric`` over the episodes
    that finished (negated for ``-name``; NaN where none finished).

    Raises:
        ConfigError: the episodes report metrics, none of that name.
    """
    if metric == RETURN:
        return float(np.mean(returns)) if len(returns) else float("nan")
    if not metrics:  # no episode finished (a step cap): nothing to score
        return float("nan")
    check_metric_reported("training.fitness_metric", metric, metrics.keys())
    values = np.asarray(metrics[metric_name(metric)], np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan")
    return -float(values.mean()) if metric.startswith("-") else float(values.mean())


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
