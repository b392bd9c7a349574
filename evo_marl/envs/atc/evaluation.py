"""ATC numbers for evaluating a controller on many episodes: LoS risk, LoS events per flight hour,
waypoint fraction, clean episodes, and the return next to what the scenario allows.

* **LoS risk**: fraction of episodes whose minimum separation fell below 5 NM.
* **LoS per flight hour**: LoS entries (an aircraft entering another's 5 NM circle; a pair that loses
  separation counts two) per hour flown by all aircraft (aircraft x episode length x 10 s).
* **clean**: fraction of episodes with no LoS and every aircraft at its waypoint.
* **optimum**: the spec's approximate best team return for the five core scenarios; **bound**: the
  return of straight flight with the LoS terms (``los_entry``, ``los_depth``, ``team``) taken out, per
  episode, an upper bound up to the small team term for any scenario or random draw (head_on: 24.7
  against the spec's optimum of about 24).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from evo_marl.envs.atc.config import ATCConfig
from evo_marl.envs.atc.generator import GeneratorConfig
from evo_marl.envs.atc.metrics import SEPARATION_NM, los_risk

#: approximate best team returns of the core scenarios (spec section 9)
OPTIMUM = {"head_on": 24.0, "parallel": 32.0, "t_formation": 34.0, "canonical_crossing": 45.0, "converging": 44.0}
TRAFFIC_OPTIONS = frozenset({"traffic", "schedule", *GeneratorConfig.option_names()})
LOS_TERMS = ("los_entry", "los_depth", "team")


def transfer_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a training env that carry over to another ATC scenario: observation, reward and
    dynamics settings (the policy's spaces and the rules it learned under); traffic options and
    ``max_episode_steps`` (every scenario keeps its own cap) stay behind."""
    return {k: v for k, v in kwargs.items() if k not in TRAFFIC_OPTIONS and k != "max_episode_steps"}


def summarise(episode_metrics: Mapping[str, np.ndarray], step_s: float = 10.0,
              separation_nm: float = SEPARATION_NM) -> dict[str, float]:
    """ATC safety and efficiency numbers of finished episodes (``infos["episode"]`` arrays)."""
    m = {k: np.asarray(v, np.float64) for k, v in episode_metrics.items()}
    done = np.isfinite(m["min_separation_nm"])
    if not done.any():
        return {}
    seps, los = m["min_separation_nm"][done], m["los_events"][done]
    aircraft = m["num_aircraft"][done] if "num_aircraft" in m else np.full(done.sum(), np.nan)
    hours = float(np.sum(aircraft * m["episode_length"][done]) * step_s / 3600.0)
    reached = m["waypoint_fraction"][done]
    return {
        "los_risk": los_risk(seps, separation_nm),
        "los_per_flight_hour": float(los.sum() / hours) if hours > 0 else float("nan"),
        "waypoint_fraction": float(reached.mean()),
        "clean": float(np.mean((los == 0) & (reached >= 1.0))),
        "min_separation_nm": float(seps.min()),
        "episodes": float(done.sum()),
    }


def straight_flight_bound(scenario: str, episodes: int, seed: int | None, **kwargs: Any) -> np.ndarray:
    """``float64[episodes]``: per first episode of each sub-env, the team return of straight flight
    without the LoS terms (see the module docstring). Same seed, same episodes as any policy's."""
    from evo_marl.envs.atc import vec_env

    env = vec_env(scenario, num_envs=episodes, seed=seed, **kwargs)
    env.reset(seed=seed)
    zeros = {a: np.zeros((episodes, 2), np.float32) for a in env.agents}
    total, done = np.zeros(episodes), np.zeros(episodes, bool)
    while not done.all():
        _, rewards, _, _, infos = env.step(zeros)
        step = sum(np.asarray(rewards[a], np.float64) - sum(np.asarray(infos[a][f"reward_{t}"]) for t in LOS_TERMS)
                   for a in env.agents)
        total[~done] += step[~done]
        done |= infos["final_mask"]
    return total


def reference_return(scenario: str) -> tuple[float | None, str]:
    """``(value, kind)``: the spec's optimum (``"optimum"``) where it gives one, else ``(None, "")``."""
    return (OPTIMUM[scenario], "optimum") if scenario in OPTIMUM else (None, "")


def step_seconds(kwargs: Mapping[str, Any]) -> float:
    """Simulated seconds per step of an env built with ``kwargs``."""
    return ATCConfig.from_kwargs(None, **transfer_kwargs(kwargs)).dynamics.step_s
