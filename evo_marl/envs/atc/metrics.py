"""Safety metrics over evaluation episodes (used by the trainers' evaluation and early stopping).

The per-episode metrics themselves come from ``ATCSimulator.episode_metrics()`` (names in
:data:`EPISODE_METRICS`); this module aggregates them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from evo_marl.errors import EnvError

#: Names every ATC episode reports (``infos["episode"]`` of the vector env).
EPISODE_METRICS = (
    "team_return", "los_events", "los_steps", "min_separation_nm", "waypoint_fraction", "clean", "path_efficiency",
    "episode_length", "num_aircraft", "flight_hours",
)
SEPARATION_NM = 5.0


def los_risk(min_separations: Iterable[float] | np.ndarray, separation_nm: float = SEPARATION_NM) -> float:
    """LoS risk: the fraction of episodes whose minimum separation is below ``separation_nm``.

    Args:
        min_separations: one episode minimum separation (NM) per evaluation episode.
    """
    values = np.asarray(list(min_separations) if not isinstance(min_separations, np.ndarray) else min_separations,
                        dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise EnvError("min_separations=[]: need at least one episode to compute the LoS risk")
    if np.isnan(values).any():
        raise EnvError(f"min_separations={values.tolist()}: must not contain NaN")
    return float(np.mean(values < separation_nm))


def clean_episodes(los_events: Any, waypoint_fraction: Any) -> np.ndarray:
    """Per episode: no loss of separation and every aircraft at its waypoint."""
    return (np.asarray(los_events, np.float64) == 0) & (np.asarray(waypoint_fraction, np.float64) >= 1.0)


def is_conflict_free(metrics: Mapping[str, Any]) -> bool:
    """True when the episode(s) had no loss of separation and every agent reached its waypoint.

    Args:
        metrics: episode metrics with ``los_events`` and ``waypoint_fraction``, each a number (one
            episode) or an array (several episodes: all of them must be conflict-free).
    """
    missing = [k for k in ("los_events", "waypoint_fraction") if k not in metrics]
    if missing:
        raise EnvError(f"metrics: missing {missing}; is_conflict_free needs the ATC episode metrics {EPISODE_METRICS}")
    los = np.asarray(metrics["los_events"], dtype=np.float64)
    reached = np.asarray(metrics["waypoint_fraction"], dtype=np.float64)
    if los.size == 0 or reached.size == 0:
        return False
    return bool(np.all(clean_episodes(los, reached)))


def evaluation_summary(episode_metrics: Mapping[str, np.ndarray]) -> dict[str, float]:
    """What an evaluation of many episodes adds to the mean of each metric (finished episodes only):

    * ``los_risk``: fraction of episodes whose minimum separation fell below 5 NM;
    * ``los_per_flight_hour``: LoS entries (an aircraft entering another's 5 NM circle; a pair that loses
      separation counts two) per hour flown by all aircraft (aircraft x episode length);
    * ``clean``: fraction of episodes with no LoS and every aircraft at its waypoint;
    * ``worst_min_separation_nm``: the smallest separation of any episode;
    * ``los_median_separation_nm``: how deep losses go, the median minimum separation of the episodes that lost
      separation (NaN without any): near 5 NM the losses are grazes of the minimum, far below it near-collisions.
    """
    seps = np.asarray(episode_metrics.get("min_separation_nm", []), dtype=np.float64)
    done = np.isfinite(seps)
    if not done.any():
        return {}
    finished = seps[done]
    lost = finished[finished < SEPARATION_NM]
    out = {"los_risk": los_risk(finished), "worst_min_separation_nm": float(finished.min()),
           "los_median_separation_nm": float(np.median(lost)) if lost.size else math.nan}
    los = np.asarray(episode_metrics.get("los_events", np.full(seps.shape, np.nan)), np.float64)[done]
    hours = np.asarray(episode_metrics.get("flight_hours", np.full(seps.shape, np.nan)), np.float64)[done]
    if np.isfinite(hours).all() and hours.sum() > 0:
        out["los_per_flight_hour"] = float(los.sum() / hours.sum())
    if "waypoint_fraction" in episode_metrics:
        reached = np.asarray(episode_metrics["waypoint_fraction"], np.float64)[done]
        out["clean"] = float(np.mean(clean_episodes(los, reached)))
    return out
