"""ATC views: PettingZoo API, registries, determinism, spaces, dynamics, episode end, infos, metrics."""

from __future__ import annotations

import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import parallel_api_test

import evo_marl
from evo_marl.envs.atc import REWARD_TERMS, ATCSimulator, list_scenarios, parallel_env, vec_env
from evo_marl.envs.atc.observation import feature_names
from evo_marl.envs.pz_compat import HAS_ENV_REGISTRY


def _random_episode(env, seed: int, max_steps: int = 300):
    """Every obs, reward, flag and info of one episode with actions from a seeded Generator."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    while env.agents and max_steps > 0:
        acts = {a: rng.uniform(-1, 1, 2).astype(np.float32) for a in env.agents}
        trace.append(env.step(acts))
        max_steps -= 1
    return trace


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def _zeros(env):
    return {a: np.zeros(2, np.float32) for a in env.agents}


# ---- API and registries ---------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", list_scenarios())
def test_parallel_api_every_scenario(scenario):
    parallel_api_test(parallel_env(scenario), num_cycles=120)


def test_registries():
    env = evo_marl.make_env("atc/head_on")
    assert env.possible_agents == ["A1", "A2"]
    assert "atc/merge_4all" in evo_marl.list_envs("atc") and "atc/random" in evo_marl.list_envs("atc")
    venv = evo_marl.make_vec_env("atc/canonical_crossing", num_envs=3, seed=1)
    obs, _ = venv.reset()
    assert venv.agents == ["A1", "A2", "A3", "A4"] and obs["A1"].shape == (3, 18)
    if HAS_ENV_REGISTRY:  # pettingzoo >= 1.27 (tests/test_pettingzoo_compat.py covers older releases)
        pz = pettingzoo.make("parallel", "evo_marl/ATC-v0", scenario="parallel")
        assert pz.possible_agents == ["A1", "A2", "A3"]
        assert pettingzoo.make("parallel", "evo_marl/ATC-v0").possible_agents == ["A1", "A2"]


def test_spaces_are_cached_and_shared():
    env = parallel_env("t_formation")
    assert env.observation_space("A1") is env.observation_space("A1")
    assert env.action_space("A1") is env.action_space("A2")
    venv = vec_env("t_formation", num_envs=2, seed=0)
    assert venv.single_observation_space("A3") is venv.single_observation_space("A3")
    assert env.observation_space("A1").shape == (18,)
    assert parallel_env("head_on", neighbor_topk=2, neighbor_present_flag=True).observation_space("A1").shape == (16,)


# ---- determinism ----------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["converging", "random"])
def test_same_seed_same_full_episode(scenario):
    a = _random_episode(parallel_env(scenario), seed=7)
    b = _random_episode(parallel_env(scenario), seed=7)
    assert len(a) > 10
    _assert_same(a, b)


def test_random_scenario_depends_on_the_seed():
    a, b = parallel_env("random"), parallel_env("random")
    a.reset(seed=1)
    b.reset(seed=2)
    assert not np.array_equal(a.state(), b.state())


def test_vector_env_same_seed_same_arrays():
    def run(seed):
        env = evo_marl.make_vec_env("atc/random", num_envs=16, seed=seed, num_aircraft=4)
        rng = np.random.default_rng(123)
        out = [env.reset()]
        for _ in range(130):  # past the 100-step cap: every sub-env auto-resets at least once
            out.append(env.step({a: rng.uniform(-1, 1, (16, 2)).astype(np.float32) for a in env.agents}))
        return out

    a, b = run(5), run(5)
    _assert_same(a, b)
    assert any(step[4]["final_mask"].any() for step in a[1:])
    c = run(6)
    assert not np.array_equal(a[1][0]["A1"], c[1][0]["A1"])


def test_vector_env_matches_independent_single_envs():
    """Sub-envs do not leak into each other: a 3-env batch equals three single envs, action for action."""
    venv = vec_env("cross_3p1", num_envs=3, seed=0)
    singles = [parallel_env("cross_3p1") for _ in range(3)]
    obs, _ = venv.reset()
    for i, env in enumerate(singles):
        o, _ = env.reset()
        for a in env.agents:
            np.testing.assert_allclose(obs[a][i], o[a], rtol=0, atol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(20):
        acts = {a: rng.uniform(-1, 1, (3, 2)).astype(np.float32) for a in venv.agents}
        obs, rew, _, _, infos = venv.step(acts)
        for i, env in enumerate(singles):
            o, r, _, _, info = env.step({a: acts[a][i] for a in env.agents})
            for a in env.agents:
                np.testing.assert_allclose(obs[a][i], o[a], atol=1e-6)
                assert rew[a][i] == pytest.approx(r[a], abs=1e-6)
                assert infos[a]["min_sep_nm"][i] == pytest.approx(info[a]["min_sep_nm"])


# ---- dynamics -------------------------------------------------------------------------------------

def test_standard_rate_turn_and_speed_change():
    env = parallel_env("head_on")
    env.reset()
    sim = env.sim
    env.step({"A1": np.array([1.0, 1.0]), "A2": np.array([-0.5, -1.0])})
    tas_mps = 250 * 1.1548 * 1852 / 3600
    rate = np.degrees(9.80665 * np.tan(np.radians(25)) / tas_mps)  # ~1.76 deg/s at 250 kt CAS
    assert rate == pytest.approx(1.76, abs=0.01)
    # A1 commanded +18 deg: turns at about the standard rate for the 10 s step (TAS rises meanwhile)
    assert 17.0 < sim.hdg[0, 0] < 10 * rate + 1e-9
    assert sim.hdg[1, 0] == pytest.approx(180 - 9, abs=1e-9)  # -9 deg: reached within the step
    assert sim.cas[0, 0] == pytest.approx(260.0) and sim.cas[1, 0] == pytest.approx(240.0)  # 10 kt < 14.6 kt
    assert sim.cmd_hdg[0, 0] == pytest.approx(18.0)
    obs, *_ = env.step({"A1": np.zeros(2), "A2": np.zeros(2)})
    assert obs["A1"][2] < 0 < obs["A2"][2]  # A1 turned right: waypoint now to its left; A2 turned left


def test_observations_lie_in_the_observation_space():
    env = parallel_env("merge_4all")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    space = env.observation_space("A1")
    while env.agents:
        assert all(space.contains(o) for o in obs.values())
        obs, *_ = env.step({a: rng.uniform(-1, 1, 2).astype(np.float32) for a in env.agents})


def test_commanded_speed_is_clipped_to_the_cas_window():
    env = parallel_env("head_on", cas_max_kt=255.0)
    env.reset()
    for _ in range(3):
        env.step({"A1": np.array([0.0, 1.0]), "A2": np.zeros(2)})
    assert env.sim.cas[0, 0] == pytest.approx(255.0)


def test_reached_agents_ignore_actions_and_fly_straight():
    env = parallel_env("parallel")
    env.reset()
    infos = None
    for _ in range(17):  # A3 reaches its waypoint at step 17
        _, _, _, _, infos = env.step(_zeros(env))
    assert infos["A3"]["waypoint_reached"] and not infos["A2"]["waypoint_reached"]
    hdg, cas = env.sim.hdg[2, 0], env.sim.cas[2, 0]
    _, _, _, _, infos = env.step({a: np.array([1.0, 1.0], np.float32) for a in env.agents})
    assert env.sim.hdg[2, 0] == hdg and env.sim.cas[2, 0] == cas
    assert infos["A3"]["reward_action_cost"] == 0.0 and infos["A2"]["reward_action_cost"] == pytest.approx(-0.02)
    assert infos["A3"]["reward_time"] == pytest.approx(-0.0005)
    assert "A3" in env.agents


# ---- episode end ----------------------------------------------------------------------------------

def test_timeout_is_a_truncation_with_the_timeout_penalty():
    env = parallel_env("head_on", max_episode_steps=5)
    env.reset()
    for step in range(5):
        _, rew, term, trunc, infos = env.step(_zeros(env))
    assert not any(term.values()) and all(trunc.values())
    assert infos["A1"]["reward_timeout"] == -10.0
    assert env.agents == []
    assert env.last_episode_metrics["episode_length"] == 5
    assert env.last_episode_metrics["waypoint_fraction"] == 0.0


def test_reaching_every_waypoint_is_a_termination():
    env = parallel_env("converging")
    env.reset()
    while env.agents:
        _, _, term, trunc, infos = env.step(_zeros(env))
    assert all(term.values()) and not any(trunc.values())
    assert all(i["reward_timeout"] == 0.0 for i in infos.values())


def test_vector_env_reports_truncations_and_final_observations():
    venv = vec_env("head_on", num_envs=2, seed=0, max_episode_steps=3)
    obs, _ = venv.reset()
    first = obs["A1"].copy()
    for _ in range(3):
        obs, _, term, trunc, infos = venv.step({a: np.zeros((2, 2), np.float32) for a in venv.agents})
    assert trunc["A1"].all() and not term["A1"].any() and infos["final_mask"].all()
    np.testing.assert_array_equal(obs["A1"], first)  # auto-reset to the scenario's start
    assert not np.array_equal(infos["final_observation"]["A1"], first)
    assert infos["episode"]["episode_length"].tolist() == [3.0, 3.0]


# ---- observations and infos -----------------------------------------------------------------------

def test_reset_observation_values():
    env = parallel_env("head_on")
    obs, _ = env.reset()
    o = obs["A1"]
    names = feature_names(env.sim.cfg)
    assert len(names) == o.size == 18
    d_wp = 36.0 * env.sim.cfg.dynamics.geometry_scale - 0.16039
    assert o[0] == pytest.approx(np.tanh(d_wp / 20), abs=1e-4)
    assert o[1] == pytest.approx(1.0) and o[2] == pytest.approx(0.0, abs=1e-6)  # waypoint dead ahead
    assert o[3] == pytest.approx(-0.246, abs=0.001)
    assert o[4] == 0.0 and o[5] == 0.0
    sep = 36.0 * env.sim.cfg.dynamics.geometry_scale - 2 * 0.16039
    assert o[6] == pytest.approx(0.0, abs=1e-6) and o[7] == pytest.approx(sep * 1852 / 20000, abs=1e-4)
    assert o[9] == pytest.approx(-2 * 250 * 1.1548 / 300, abs=1e-4)  # closing head-on: -1.92
    assert np.all(o[10:] == 0.0)  # only one neighbour: the other slots are padding


def test_present_flags_mark_filled_slots():
    env = parallel_env("t_formation", neighbor_topk=3, neighbor_present_flag=True)
    obs, _ = env.reset()
    names = feature_names(env.sim.cfg)
    flags = [obs["A1"][i] for i, n in enumerate(names) if n.endswith("present")]
    assert flags == [1.0, 1.0, 0.0]


def test_neighbours_are_sorted_by_distance():
    env = parallel_env("chase_4all")
    obs, _ = env.reset()
    o = obs["A1"]  # neighbours straight ahead at 6, 12, 18 NM
    np.testing.assert_allclose(o[[7, 11, 15]], np.array([6, 12, 18]) * 1.000675 * 1852 / 20000, atol=1e-4)


def test_infos_hold_every_per_agent_key():
    env = parallel_env("head_on")
    env.reset()
    _, rew, _, _, infos = env.step(_zeros(env))
    keys = {"min_sep_nm", "wp_dist_nm", "conflict", "collision", "waypoint_reached"}
    keys |= {f"reward_{t}" for t in REWARD_TERMS}
    assert set(infos["A1"]) == keys
    assert sum(infos["A1"][f"reward_{t}"] for t in REWARD_TERMS) == pytest.approx(rew["A1"], abs=1e-5)
    venv = vec_env("head_on", num_envs=4, seed=0)
    venv.reset()
    _, _, _, _, vinfos = venv.step({a: np.zeros((4, 2), np.float32) for a in venv.agents})
    assert vinfos["A2"]["conflict"].shape == (4,) and vinfos["A2"]["reward_team"].dtype == np.float64


def test_collision_info_uses_collision_nm():
    env = parallel_env("head_on", collision_nm=3.0)
    env.reset()
    flags = []
    while env.agents:
        _, _, _, _, infos = env.step(_zeros(env))
        flags.append((infos["A1"]["min_sep_nm"], infos["A1"]["conflict"], infos["A1"]["collision"]))
    assert all(c == (d < 5.0) and k == (d < 3.0) for d, c, k in flags)
    assert sum(k for _, _, k in flags) == 4  # 2.02, 0.42, 1.19, 2.79 NM on steps 21-24


def test_episode_metrics_of_the_vector_env():
    venv = vec_env("parallel", num_envs=2, seed=0)
    venv.reset()
    episode = None
    for _ in range(36):
        _, _, _, _, infos = venv.step({a: np.zeros((2, 2), np.float32) for a in venv.agents})
        episode = infos["episode"] or episode
    for name in ("team_return", "los_events", "los_steps", "min_separation_nm", "waypoint_fraction",
                 "path_efficiency", "episode_length"):
        assert episode[name].shape == (2,)
    assert episode["team_return"] == pytest.approx([32.284, 32.284], abs=1e-3)


def test_simulator_is_a_batched_simulator():
    from evo_marl.envs.native import BatchedSimulator

    assert isinstance(parallel_env("head_on").sim, ATCSimulator)
    assert issubclass(ATCSimulator, BatchedSimulator)
