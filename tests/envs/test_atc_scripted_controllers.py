"""The two full-state reference controllers a learned ATC policy is measured against: the per-aircraft
:class:`HeadingResolver` and the centralised :class:`RolloutPlanner`."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from evo_marl.envs.atc.metrics import evaluation_summary
from evo_marl.envs.atc.planner import RolloutPlanner
from evo_marl.envs.atc.resolver import HeadingResolver
from evo_marl.envs.episodes import run_episodes
from evo_marl.envs.registry import make_vec_env
from evo_marl.errors import ConfigError

CONTROLLERS = {"resolver": HeadingResolver, "planner": RolloutPlanner}


def _straight(env) -> Callable:
    zeros = {a: np.zeros((env.num_envs, 2), np.float32) for a in env.possible_agents}
    return lambda obs=None, infos=None: zeros


def _summary(make: Callable[[Any], Callable], env_id: str, episodes: int, seed: int, **kwargs) -> dict[str, float]:
    """Safety summary and mean metrics of the controller ``make(env)`` on ``episodes`` episodes."""
    env = make_vec_env(env_id, num_envs=episodes, seed=seed, **kwargs)
    res = run_episodes(make(env), env, seed=seed)
    return {**evaluation_summary(res.metrics), **res.mean_metrics()}


@pytest.mark.parametrize("controller, scenario", [
    ("resolver", "head_on"), ("resolver", "t_formation"), ("resolver", "canonical_crossing"),
    ("planner", "converging"), ("planner", "merge_4all"), ("planner", "cross_4all")])  # the resolver fails these 3
def test_resolves_named_scenarios_cleanly(controller, scenario):
    s = _summary(CONTROLLERS[controller], f"atc/{scenario}", 1, 0)
    assert s["los_risk"] == 0.0 and s["waypoint_fraction"] == 1.0


def test_random_traffic_far_safer_than_straight_flight():
    # 100 episodes of 3 aircraft, measured: straight flight 98 %, resolver 2 %, planner 0 % (with a 3-step horizon 13 %)
    straight = _summary(_straight, "atc/random", 100, 7, num_aircraft=3)
    resolver = _summary(HeadingResolver, "atc/random", 100, 7, num_aircraft=3)
    planner = _summary(lambda env: RolloutPlanner(env, seed=7), "atc/random", 100, 7, num_aircraft=3)
    short = _summary(lambda env: RolloutPlanner(env, seed=7, horizon_steps=3), "atc/random", 100, 7, num_aircraft=3)
    assert straight["los_risk"] > 0.8  # every draw holds a set-up conflict
    assert resolver["los_risk"] <= 0.1 and resolver["waypoint_fraction"] >= 0.95
    assert planner["los_risk"] <= 0.02 and planner["waypoint_fraction"] >= 0.99
    assert short["los_risk"] >= 0.05  # a short horizon does not see the conflicts coming


@pytest.mark.parametrize("controller", sorted(CONTROLLERS))
def test_actions_in_range_heading_only_zero_once_at_the_waypoint_and_repeatable(controller):
    runs = []
    for _ in range(2):
        env = make_vec_env("atc/random", num_envs=16, seed=3, num_aircraft=[2, 5])
        env.reset(seed=3)
        policy, actions = CONTROLLERS[controller](env), []
        for _ in range(40):
            a = policy()
            for i, agent in enumerate(env.possible_agents):
                assert a[agent].shape == (16, 2) and a[agent].dtype == np.float32 and np.abs(a[agent]).max() <= 1.0
                assert not a[agent][env.sim.reached[i]].any() and not a[agent][:, 1].any()
            actions.append(np.stack(list(a.values())))
            env.step(a)
        runs.append(np.stack(actions))
    np.testing.assert_array_equal(runs[0], runs[1])  # the planner draws from its own seeded generator


@pytest.mark.parametrize("controller, kwargs, field", [
    ("resolver", {"lookahead_s": 0}, "lookahead_s"), ("resolver", {"margin": -0.1}, "margin"),
    ("resolver", {"headings": 0}, "headings"), ("resolver", {"max_turn_deg": -5}, "max_turn_deg"),
    ("planner", {"candidates": 2}, "candidates"), ("planner", {"horizon_steps": 0}, "horizon_steps"),
    ("planner", {"margin": -0.1}, "margin"), ("planner", {"los_weight": 0}, "los_weight"),
    ("planner", {"substeps": 1.5}, "substeps"), ("planner", {"max_hold_steps": 0}, "max_hold_steps")])
def test_bad_settings_name_the_field(controller, kwargs, field):
    with pytest.raises(ConfigError, match=field):
        CONTROLLERS[controller](make_vec_env("atc/head_on", num_envs=1), **kwargs)


@pytest.mark.parametrize("controller", sorted(CONTROLLERS))
def test_needs_an_atc_env(controller):
    with pytest.raises(ConfigError, match="env"):
        CONTROLLERS[controller](make_vec_env("tiny/coop_box", num_envs=1))
