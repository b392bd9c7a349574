"""ATC scenario files, user scenarios and configuration errors (random traffic: test_atc_traffic.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import evo_marl
from evo_marl.envs.atc import ATCConfig, list_scenarios, load_scenario, parallel_env, vec_env
from evo_marl.envs.atc.scenarios import parse_scenario, shipped_scenarios
from evo_marl.errors import ConfigError, EnvError

CORE = ["head_on", "parallel", "t_formation", "canonical_crossing", "converging"]
FAMILY = [f"{f}_{p}" for f in ("chase", "cross", "merge") for p in ("2x2", "3p1", "4all")]


def _scenario(**overrides):
    data = {"name": "mine", "aircraft": [
        {"id": "A1", "start": [0, -10], "waypoint": [0, 10]},
        {"id": "A2", "start": [-10, 0], "waypoint": [10, 0], "heading": 90, "cas_kt": 240},
    ]}
    data.update(overrides)
    return data


# ---- shipped scenarios ----------------------------------------------------------------------------

def test_every_spec_scenario_ships_as_data():
    assert sorted(shipped_scenarios()) == sorted(CORE + FAMILY)
    assert list_scenarios()[-2:] == ["random", "mix"]
    for name in CORE:
        assert load_scenario(name).max_episode_steps == 100
    for name in FAMILY:
        s = load_scenario(name)
        assert s.max_episode_steps == 150 and s.num_agents == 4
        assert np.allclose(s.cas_kt, 250.0)
        leg = s.waypoint - s.start  # family headings point at the waypoints
        np.testing.assert_allclose(s.heading_deg, np.degrees(np.arctan2(leg[:, 0], leg[:, 1])) % 360, atol=1e-4)


def test_spec_table_geometry():
    s = load_scenario("converging")
    assert s.agent_ids == ("A1", "A2", "A3", "A4")
    np.testing.assert_allclose(s.start[1], [-5.21, 6.79])
    np.testing.assert_allclose(s.heading_deg, [20.08, 140.10, 259.99, 319.90])
    assert load_scenario("canonical_crossing").agent_ids == ("A1", "A2", "A3", "A4")
    np.testing.assert_allclose(load_scenario("t_formation").waypoint[2], [-6, 12.8])
    m = load_scenario("merge_4all")
    np.testing.assert_allclose(np.hypot(*m.start.T), 50.0, atol=1e-5)
    np.testing.assert_allclose(m.heading_deg, [340, 355, 5, 20])


# ---- user scenario files --------------------------------------------------------------------------

def test_user_json_and_yaml_files(tmp_path):
    import yaml

    (tmp_path / "mine.json").write_text(json.dumps(_scenario()))
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(_scenario(max_episode_steps=30)))
    for path in (tmp_path / "mine.json", tmp_path / "mine.yaml"):
        env = parallel_env(scenario=str(path))
        env.reset()
        assert env.possible_agents == ["A1", "A2"]
        assert env.sim.hdg[0, 0] == pytest.approx(0.0)  # default heading: toward the waypoint
        assert env.sim.cas[1, 0] == pytest.approx(240.0)
    assert parallel_env(scenario=str(tmp_path / "mine.yaml")).sim.max_episode_steps == 30


@pytest.mark.parametrize("count", [1, 5])
def test_user_scenarios_of_any_size(count):
    from pettingzoo.test import parallel_api_test

    s = parse_scenario({"aircraft": [{"id": f"B{i}", "start": [6 * i, -20], "waypoint": [10 - 6 * i, 20]}
                                     for i in range(count)]})
    env = parallel_env(s)
    parallel_api_test(env, num_cycles=30)
    obs, _ = env.reset()
    assert obs["B0"].shape == (18,)
    if count == 1:
        assert np.all(obs["B0"][6:] == 0.0)  # no neighbours
        _, _, _, _, infos = env.step({"B0": np.zeros(2)})
        assert infos["B0"]["min_sep_nm"] == 200.0


def test_lat_lon_positions_use_the_centre():
    s = parse_scenario({"centre": {"lat": 52.0, "lon": 4.0}, "aircraft": [
        {"id": "A1", "start_latlon": [51.7, 4.0],
         "waypoint_latlon": [52.0, 4.0 + 10 / (60 * np.cos(np.radians(52)))]}]})
    np.testing.assert_allclose(s.start[0], [0.0, -18.0], atol=1e-9)
    np.testing.assert_allclose(s.waypoint[0], [10.0, 0.0], atol=1e-9)


def test_scenario_round_trips_through_a_file(tmp_path):
    s = load_scenario("cross_3p1")
    path = s.save(tmp_path / "copy.yaml")
    t = load_scenario(str(path))
    assert t.agent_ids == s.agent_ids and t.max_episode_steps == 150
    np.testing.assert_allclose(t.start, s.start)
    np.testing.assert_allclose(t.heading_deg, s.heading_deg)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x"}, "aircraft=None: must be a non-empty list"),
        (_scenario(aircraft=[{"id": "A1", "waypoint": [0, 1]}]), "give exactly one of 'start'"),
        (_scenario(aircraft=[{"id": "A1", "start": "north", "waypoint": [0, 1]}]),
         "aircraft[0].start='north': must be a list of two numbers"),
        (_scenario(aircraft=[{"id": "A1", "start": [0, 1], "waypoint": [0, 1]}]), "equals the start position"),
        (_scenario(aircraft=[{"id": "A1", "start": [0, float("nan")], "waypoint": [0, 1]}]), "must be a finite number"),
        (_scenario(aircraft=[{"id": "A1", "start": [0, 0], "waypoint": [0, 9], "heading": float("inf")}]),
         "aircraft[0].heading=inf: must be a finite number"),
        (_scenario(aircraft=[{"id": "A1", "start": [0, 0], "waypoint": [0, 9]},
                             {"id": "A1", "start": [5, 0], "waypoint": [5, 9]}]), "duplicate agent id"),
        (_scenario(aircraft=[{"id": 3, "start": [0, 0], "waypoint": [0, 9]}]), "aircraft[0].id=3: must be a non-empty"),
        (_scenario(aircraft=[{"id": "A1", "start": [0, 0], "waypoint": [0, 9], "speed": 3}]),
         "aircraft[0].speed=3: unknown field"),
        (_scenario(max_episode_steps=0), "max_episode_steps=0: must be an integer >= 1"),
        (_scenario(aircraft=[{"id": "A1", "start_latlon": [52, 4], "waypoint": [0, 9]}]), "need a 'centre'"),
        (_scenario(aircraft=[{"id": "A1", "start": [0, 0], "waypoint": [0, 9], "cas_kt": -5}]),
         "must be in (0, 1000] kt"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_malformed_scenarios_say_what_is_wrong(data, message):
    with pytest.raises(EnvError) as err:
        parse_scenario(data, source="test.json")
    assert message in str(err.value)


def test_all_problems_are_listed_at_once():
    data = _scenario(aircraft=[{"id": "A1", "start": [0, 0], "waypoint": [0, 0]},
                               {"id": "A1", "start": [0, "x"], "waypoint": [1, 1]}])
    with pytest.raises(EnvError) as err:
        parse_scenario(data)
    text = str(err.value)
    assert "equals the start position" in text and "duplicate agent id" in text and "aircraft[1].start[1]" in text


def test_unknown_scenarios_and_unreadable_files(tmp_path):
    with pytest.raises(EnvError, match="valid scenarios are .*head_on"):
        parallel_env("no_such_scenario")
    with pytest.raises(EnvError, match="valid scenarios are"):
        evo_marl.make_env("atc/no_such_scenario")
    with pytest.raises(EnvError, match="does not exist"):
        parallel_env(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EnvError, match="cannot be parsed"):
        parallel_env(str(tmp_path / "bad.json"))


# ---- configuration --------------------------------------------------------------------------------

def test_every_constant_is_configurable():
    cfg = ATCConfig.from_kwargs(los_entry_penalty=-50.0, substeps=5, neighbor_topk=2, reward={"team_weight": 0.0})
    assert cfg.reward.los_entry_penalty == -50.0 and cfg.reward.team_weight == 0.0
    assert cfg.dynamics.substeps == 5 and cfg.neighbor_topk == 2 and cfg.obs_dim == 14
    env = parallel_env("head_on", los_entry_penalty=-50.0, team_weight=0.0)
    env.reset()
    total = 0.0
    while env.agents:
        _, rew, _, _, _ = env.step({a: np.zeros(2) for a in env.agents})
        total += sum(rew.values())
    assert total == pytest.approx(-33.544 - 2 * 25 + 2 * 0.198, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"neighbor_topk": -1}, "neighbor_topk", "integer >= 0"),
        ({"separation_nm": 0.0}, "separation_nm", "> 0"),
        ({"cas_max_kt": 90.0}, "cas_max_kt", "must be > cas_min_kt"),
        ({"team_gamma": 1.5}, "team_gamma", "in [0, 1]"),
        ({"substeps": 2.5}, "substeps", "integer >= 1"),
        ({"reach_bonus": float("nan")}, "reach_bonus", "finite number"),
        ({"max_episode_steps": 0}, "max_episode_steps", "integer >= 1"),
        ({"bank_angle_deg": 95.0}, "bank_angle_deg", "(0, 89]"),
        ({"los_entry": -25}, "los_entry", "unknown ATC option; valid options are"),
    ],
)
def test_invalid_config_values_name_field_value_and_rule(kwargs, field, rule):
    with pytest.raises(ConfigError) as err:
        parallel_env("head_on", **kwargs)
    assert err.value.field == field and rule in str(err.value)
    assert repr(next(iter(kwargs.values()))) in str(err.value)


def test_bad_actions_are_rejected():
    env = parallel_env("head_on")
    env.reset()
    with pytest.raises(EnvError, match="finite"):
        env.step({"A1": np.array([np.nan, 0.0]), "A2": np.zeros(2)})
    venv = vec_env("head_on", num_envs=2, seed=0)
    venv.reset()
    with pytest.raises(EnvError, match=r"shape \(2, 2\)"):
        venv.step({"A1": np.zeros((3, 2)), "A2": np.zeros((2, 2))})
