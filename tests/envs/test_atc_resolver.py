"""The scripted heading resolver: the reference controller a learned ATC policy is measured against."""

from __future__ import annotations

import numpy as np
import pytest

from evo_marl.envs.atc.metrics import evaluation_summary
from evo_marl.envs.atc.resolver import HeadingResolver
from evo_marl.envs.episodes import run_episodes
from evo_marl.envs.registry import make_vec_env
from evo_marl.errors import ConfigError


def _summary(env_id: str, episodes: int, seed: int, straight: bool = False, **kwargs) -> dict[str, float]:
    """Safety summary and mean metrics of the resolver (or of straight flight) on ``episodes`` episodes."""
    env = make_vec_env(env_id, num_envs=episodes, seed=seed, **kwargs)
    zeros = {a: np.zeros((episodes, 2), np.float32) for a in env.possible_agents}
    res = run_episodes((lambda obs, infos: zeros) if straight else HeadingResolver(env), env, seed=seed)
    return {**evaluation_summary(res.metrics), **res.mean_metrics()}


@pytest.mark.parametrize("scenario", ["head_on", "t_formation", "canonical_crossing"])
def test_resolves_the_core_scenarios_cleanly(scenario):
    s = _summary(f"atc/{scenario}", 1, 0)
    assert s["los_risk"] == 0.0 and s["waypoint_fraction"] == 1.0


def test_random_traffic_far_safer_than_straight_flight():
    resolved = _summary("atc/random", 100, 7, num_aircraft=3)
    straight = _summary("atc/random", 100, 7, straight=True, num_aircraft=3)
    assert straight["los_risk"] > 0.8  # every draw holds a set-up conflict
    assert resolved["los_risk"] <= 0.1 and resolved["waypoint_fraction"] >= 0.95


def test_actions_are_in_range_and_zero_once_the_waypoint_is_reached():
    env = make_vec_env("atc/random", num_envs=16, seed=3, num_aircraft=[2, 5])
    env.reset(seed=3)
    resolver = HeadingResolver(env)
    for _ in range(60):
        actions = resolver()
        for i, agent in enumerate(env.possible_agents):
            a = actions[agent]
            assert a.shape == (16, 2) and a.dtype == np.float32 and np.abs(a).max() <= 1.0
            assert not a[env.sim.reached[i]].any() and not a[:, 1].any()  # heading only
        env.step(actions)


@pytest.mark.parametrize("kwargs, field", [({"lookahead_s": 0}, "lookahead_s"), ({"margin": -0.1}, "margin"),
                                            ({"headings": 0}, "headings"), ({"max_turn_deg": -5}, "max_turn_deg")])
def test_bad_settings_name_the_field(kwargs, field):
    env = make_vec_env("atc/head_on", num_envs=1)
    with pytest.raises(ConfigError, match=field):
        HeadingResolver(env, **kwargs)


def test_needs_an_atc_env():
    with pytest.raises(ConfigError, match="env"):
        HeadingResolver(make_vec_env("tiny/coop_box", num_envs=1))
