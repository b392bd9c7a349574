"""Bucket Brigade scenarios: the shipped data, users' own scenarios, and validation errors."""

from __future__ import annotations

import json
import math

import pytest

from evo_marl.envs.bucket_brigade import Scenario, list_scenarios, load_scenario, parallel_env
from evo_marl.errors import ConfigError, EnvError

# The spec's table: beta, kappa, rho, A, L, c, min_nights, r_own, r_other, p_own, p_other
SPEC_TABLE = {
    "default": (.25, .5, .02, 100, 100, .5, 12, 20, 0, 40, 0),
    "easy": (.10, .8, .01, 100, 100, .5, 10, 1, 0, 2, 0),
    "hard": (.40, .3, .05, 100, 100, .5, 15, 1, 0, 2, 0),
    "trivial_cooperation": (.15, .9, 0.0, 100, 100, .5, 12, 1, 0, 2, 0),
    "early_containment": (.35, .6, .02, 100, 100, .5, 12, 1, 0, 2, 0),
    "greedy_neighbor": (.15, .4, .02, 100, 100, 1.0, 12, 1, 0, 2, 0),
    "sparse_heroics": (.10, .5, .02, 100, 100, .8, 20, 1, 0, 2, 0),
    "rest_trap": (.05, .95, .02, 100, 100, .2, 12, 1, 0, 2, 0),
    "chain_reaction": (.45, .6, .03, 100, 100, .7, 15, 1, 0, 2, 0),
    "deceptive_calm": (.25, .6, .05, 100, 100, .4, 20, 1, 0, 2, 0),
    "overcrowding": (.20, .3, .02, 50, 100, .6, 12, 1, 0, 2, 0),
    "mixed_motivation": (.30, .5, .03, 100, 100, .6, 15, 1, 0, 2, 0),
}
FIELDS = ("beta", "kappa", "rho", "A", "L", "c", "min_nights", "r_own", "r_other", "p_own", "p_other")


def test_twelve_builtin_scenarios_match_the_spec():
    assert list_scenarios() == list(SPEC_TABLE)
    for name, values in SPEC_TABLE.items():
        s = load_scenario(name)
        assert (s.name, s.num_agents, s.num_houses, s.rest_reward) == (name, 4, 10, 0.5)
        assert tuple(getattr(s, f) for f in FIELDS) == values
        assert s.description


def test_user_scenarios_from_dict_json_and_yaml(tmp_path):
    s = load_scenario({"rho": 0.1, "num_agents": 6, "num_houses": 12, "min_nights": 5})
    assert (s.rho, s.num_agents, s.num_houses, s.min_nights, s.kappa, s.name) == (0.1, 6, 12, 5, 0.5, "custom")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"kappa": 0.7, "A": 80, "min_nights": 3.0}))
    s = load_scenario(path)
    assert (s.kappa, s.A, s.min_nights, s.name) == (0.7, 80.0, 3, "mine")
    yml = tmp_path / "other.yaml"
    yml.write_text("name: village\nnum_houses: 5\nbeta: 0\nc: 2\n")
    s = load_scenario(str(yml))
    assert (s.name, s.num_houses, s.beta, s.c) == ("village", 5, 0.0, 2.0)
    env = parallel_env(str(yml), num_agents=3)
    assert env.possible_agents == ["agent_0", "agent_1", "agent_2"]
    assert env.action_space("agent_0").nvec.tolist() == [5, 2]
    assert load_scenario(s.to_dict()) == s
    assert load_scenario(s) is s
    assert load_scenario("easy", num_agents=2).num_agents == 2


def test_unknown_scenario_lists_valid_names(tmp_path):
    with pytest.raises(EnvError, match="valid scenarios are") as err:
        load_scenario("defualt")
    assert "rest_trap" in str(err.value)
    with pytest.raises(EnvError, match="no such scenario file"):
        load_scenario(tmp_path / "missing.json")
    with pytest.raises(EnvError, match="must be a scenario name"):
        load_scenario(42)


@pytest.mark.parametrize("data, field, rule", [
    ({"beta": 1.5}, "scenario.beta", "probability"),
    ({"kappa": -0.1}, "scenario.kappa", "probability"),
    ({"rho": math.nan}, "scenario.rho", "finite"),
    ({"A": math.inf}, "scenario.A", "finite"),
    ({"c": "cheap"}, "scenario.c", "finite"),
    ({"num_agents": 0}, "scenario.num_agents", ">= 1"),
    ({"num_houses": 0}, "scenario.num_houses", ">= 1"),
    ({"num_houses": 2.5}, "scenario.num_houses", "integer"),
    ({"min_nights": -1}, "scenario.min_nights", ">= 0"),
    ({"min_nights": True}, "scenario.min_nights", "integer"),
    ({"kapa": 0.5}, "scenario.kapa", "unknown field"),
])
def test_invalid_parameters_name_field_value_and_rule(data, field, rule):
    with pytest.raises(ConfigError) as err:
        load_scenario(data)
    assert err.value.field == field and rule in err.value.rule
    assert field in str(err.value) and repr(next(iter(data.values()))) in str(err.value)


def test_invalid_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_scenario(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_scenario(lst)
    unknown = tmp_path / "u.yml"
    unknown.write_text("rho: 0.1\nspread: 0.2\n")
    with pytest.raises(ConfigError, match="unknown field"):
        load_scenario(unknown)


def test_scenario_is_immutable_and_validated_on_overrides():
    s = Scenario()
    with pytest.raises(AttributeError):
        s.rho = 0.5  # type: ignore[misc]
    with pytest.raises(ConfigError, match="probability"):
        s.with_overrides(rho=2.0)
