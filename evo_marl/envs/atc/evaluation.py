"""What the ATC family contributes to evaluating a controller away from its training env
(:func:`evo_marl.cross_evaluation.cross_evaluate`): which options carry over, and what return a scenario allows.

* :func:`transfer_kwargs`: the observation options carry over (they make the policy's input); everything
  else stays behind, so every scenario is scored by its standard rules (spec reward and dynamics, its own
  step cap) even when training shaped the reward; pass options explicitly to change that.
* :func:`reference_returns`: the spec's approximate optimum for the five core scenarios, and the
  **straight-flight bound** of the very episodes evaluated: the return of straight flight with the LoS
  terms (``los_entry``, ``los_depth``, ``team``) taken out, an upper bound up to the small team term for
  any scenario or random draw (head_on: 24.7 against the spec's optimum of about 24).

The safety numbers of an evaluation (LoS risk, LoS per flight hour, clean episodes) are
:func:`evo_marl.envs.atc.metrics.evaluation_summary`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: approximate best team returns of the core scenarios (spec section 9)
OPTIMUM = {"head_on": 24.0, "parallel": 32.0, "t_formation": 34.0, "canonical_crossing": 45.0, "converging": 44.0}
#: the ATCConfig options that shape an observation
OBSERVATION_OPTIONS = ("neighbor_topk", "neighbor_present_flag", "neighbor_reached_flag", "neighbor_order",
                       "neighbor_cpa", "neighbor_frame", "cpa_horizon_s", "cpa_separation_nm",
                       "rel_velocity_scale_kt")
LOS_TERMS = ("los_entry", "los_depth", "team", "buffer")


def transfer_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a training env that apply to any other ATC scenario: its observation options."""
    return {k: v for k, v in kwargs.items() if k in OBSERVATION_OPTIONS}


def straight_flight_bound(scenario: str, episodes: int, seed: int | None, **kwargs: Any) -> np.ndarray:
    """``float64[episodes]``: per first episode of each sub-env, the team return of straight flight
    without the LoS terms. Same seed, same episodes as any policy's evaluation."""
    from evo_marl.envs.atc.env import vec_env

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


def reference_returns(scenario: str, episodes: int, seed: int | None,
                      kwargs: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """``(optimum, bound)``: the spec's optimum where it gives one (else None) and the mean straight-flight
    bound of the ``episodes`` first episodes a ``seed``-ed vector env of the scenario plays."""
    bound = float(np.mean(straight_flight_bound(scenario, episodes, seed, **kwargs)))
    return OPTIMUM.get(scenario), bound
