"""Bucket Brigade views: PettingZoo API, registries, determinism, spaces, observations, truncation, metrics."""

from __future__ import annotations

import numpy as np
import pettingzoo
import pytest
from gymnasium import spaces
from pettingzoo.test import parallel_api_test

import evo_marl
from evo_marl.envs.bucket_brigade import (
    BucketBrigadeSimulator,
    list_scenarios,
    parallel_env,
    vec_env,
)
from evo_marl.envs.pz_compat import HAS_ENV_REGISTRY
from evo_marl.envs.bucket_brigade.agents import make_policy
from evo_marl.errors import ConfigError, EnvError


def _random_episode(env, seed: int, steps: int = 200):
    """Obs, rewards and flags of one episode with actions sampled from a seeded Generator."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    while env.agents and steps > 0:
        acts = {a: rng.integers(0, env.action_space(a).nvec) for a in env.agents}
        obs, rew, term, trunc, _ = env.step(acts)
        trace.append((obs, rew, term, trunc))
        steps -= 1
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


# ---- PettingZoo API -------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", list_scenarios())
def test_parallel_api_every_scenario(scenario):
    parallel_api_test(parallel_env(scenario), num_cycles=200)


@pytest.mark.parametrize("kwargs", [
    {"signal_bit": True},
    {"mode": "parity"},
    {"opponents": {"agent_3": "free_rider"}},
    {"opponents": {0: "hero", "agent_2": "random"}, "signal_bit": True},
    {"opponents": {1: [0.5] * 10, 2: "specialist", 3: "all_work"}},
    {"num_agents": 6, "num_houses": 7, "max_nights": 5},
    {"num_agents": 1, "num_houses": 1},
    {"num_agents": 12, "num_houses": 3, "opponents": {"agent_11": "coordinator"}},
    {"fire_ranks": True, "opponents": {"agent_1": "hero"}},
    {"fire_ranks": True, "num_agents": 6, "num_houses": 4},
    {"egocentric": True, "opponents": {"agent_2": "coordinator"}, "signal_bit": True},
    {"egocentric": True, "fire_ranks": True, "num_agents": 6, "num_houses": 4},
])
def test_parallel_api_variants(kwargs):
    parallel_api_test(parallel_env("hard", **kwargs), num_cycles=200)


def test_registries():
    env = evo_marl.make_env("bucket_brigade/default")
    assert env.possible_agents == ["agent_0", "agent_1", "agent_2", "agent_3"]
    venv = evo_marl.make_vec_env("bucket_brigade/rest_trap", num_envs=3, seed=1)
    obs, _ = venv.reset()
    assert obs["agent_0"].shape == (3, 96) and venv.scenario.name == "rest_trap"
    assert {f"bucket_brigade/{s}" for s in list_scenarios()} <= set(evo_marl.list_envs("bucket_brigade"))
    if HAS_ENV_REGISTRY:  # pettingzoo >= 1.27 (tests/test_pettingzoo_compat.py covers older releases)
        pz = pettingzoo.make("parallel", "evo_marl/BucketBrigade-v0")
        assert pz.scenario.name == "default"
        assert pettingzoo.make("parallel", "evo_marl/BucketBrigade-v0", scenario="easy").scenario.name == "easy"
    with pytest.raises(EnvError, match="valid scenarios are"):
        evo_marl.make_env("bucket_brigade/nope")


def test_spaces_are_cached_and_documented():
    env = parallel_env("default", signal_bit=True)
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)
    assert env.action_space("agent_0") == spaces.MultiDiscrete([10, 2, 2])
    assert parallel_env().action_space("agent_0") == spaces.MultiDiscrete([10, 2])
    venv = vec_env("default", num_envs=2)
    assert venv.single_observation_space("agent_1") is venv.single_observation_space("agent_1")
    assert venv.single_observation_space("agent_1").shape == (3 * 10 + 4 * 10 + 3 * 4 + 14,)
    assert venv.single_action_space("agent_1") is venv.single_action_space("agent_1")


# ---- determinism ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"mode": "parity"}, {"opponents": {"agent_2": "random", "agent_3": "liar"}}])
def test_parallel_env_full_episode_determinism(kwargs):
    a = _random_episode(parallel_env("deceptive_calm", **kwargs), seed=3)
    b = _random_episode(parallel_env("deceptive_calm", **kwargs), seed=3)
    _assert_same(a, b)
    c = _random_episode(parallel_env("deceptive_calm", **kwargs), seed=4)
    with pytest.raises(AssertionError):
        _assert_same(a, c)


def _vec_trace(seed, steps=60, **kwargs):
    env = vec_env("hard", num_envs=16, seed=seed, **kwargs)
    rng = np.random.default_rng(0)
    trace = [env.reset()[0]]
    for _ in range(steps):
        acts = {a: rng.integers(0, env.single_action_space(a).nvec, size=(16, 2)) for a in env.possible_agents}
        obs, rew, term, trunc, infos = env.step(acts)
        trace.append((obs, rew, term, trunc, infos["final_observation"], infos["episode"]))
    return trace


@pytest.mark.parametrize("kwargs", [{}, {"mode": "parity"}, {"opponents": {"agent_0": "coordinator"}}])
def test_vec_env_determinism_across_resets(kwargs):
    _assert_same(_vec_trace(5, **kwargs), _vec_trace(5, **kwargs))
    env = vec_env("hard", num_envs=16, seed=5, **kwargs)
    first = env.reset(seed=9)[0]
    env.step({a: np.zeros((16, 2), np.int64) for a in env.possible_agents})
    _assert_same(env.reset(seed=9)[0], first)  # reset(seed) restarts the whole stream


def test_vec_env_spawn_keeps_settings():
    env = vec_env("easy", num_envs=2, seed=0, signal_bit=True, opponents={3: "hero"})
    child = env.spawn(5, seed=1)
    assert child.num_envs == 5 and child.possible_agents == ["agent_0", "agent_1", "agent_2"]
    assert child.single_action_space("agent_0") == spaces.MultiDiscrete([10, 2, 2])


# ---- rules through the views ----------------------------------------------------------------------

def test_vec_env_auto_reset_final_observation_and_metrics():
    env = vec_env("default", num_envs=64, seed=2)
    obs, _ = env.reset()
    rng = np.random.default_rng(1)
    returns = np.zeros(64)
    seen = 0
    for _ in range(40):
        acts = {a: rng.integers(0, (10, 2), size=(64, 2)) for a in env.possible_agents}
        obs, rew, term, trunc, infos = env.step(acts)
        returns += sum(rew[a].astype(np.float64) for a in env.possible_agents)
        done = infos["final_mask"]
        if done.any():
            ep = infos["episode"]
            np.testing.assert_allclose(ep["team_return"][done], returns[done], rtol=1e-5)
            np.testing.assert_allclose(ep["team_reward_per_night"][done], returns[done] / ep["nights"][done])
            assert (ep["nights"][done] >= 13).all()  # min_nights = 12
            for key in ("houses_saved_fraction", "houses_ruined_fraction", "work_fraction"):
                assert ((ep[key][done] >= 0) & (ep[key][done] <= 1)).all()
            # the final observation shows the finished state; obs shows the new episode's night 0
            time_col = env.sim.layout.slices["time"].start
            assert (infos["final_observation"]["agent_0"][done, time_col] > 0).all()
            assert (obs["agent_0"][done, time_col] == 0).all()
            assert (obs["agent_0"][~done] == infos["final_observation"]["agent_0"][~done]).all()
            returns[done] = 0
            seen += int(done.sum())
        assert term["agent_0"].dtype == bool and not (term["agent_0"] & trunc["agent_0"]).any()
    assert seen > 64


def test_truncation_cap_is_reported_as_truncation():
    # rho = 1 and kappa = 1: house 0, worked every night, is put out and re-ignites every night, so a
    # fire always burns and the episode never terminates
    env = parallel_env({"rho": 1.0, "kappa": 1.0, "min_nights": 0}, max_nights=7)
    env.reset(seed=0)
    for night in range(7):
        _, _, term, trunc, _ = env.step({a: [0, 1] for a in env.agents})
        assert not any(term.values())
        assert all(trunc.values()) == (night == 6)
    assert env.agents == [] and env.last_episode_metrics["nights"] == 7


def test_episode_length_and_work_fraction():
    env = parallel_env("trivial_cooperation")
    env.reset(seed=0)
    nights = 0
    while env.agents:
        env.step({"agent_0": [0, 1], "agent_1": [1, 1], "agent_2": [2, 0], "agent_3": [3, 0]})
        nights += 1
    m = env.last_episode_metrics
    assert nights == m["nights"] == 13
    assert m["work_fraction"] == 0.5 and m["houses_saved_fraction"] == 1.0 and m["houses_ruined_fraction"] == 0.0
    assert m["team_return"] == pytest.approx(13 * 400.0) and m["team_reward_per_night"] == pytest.approx(400.0)


def test_rewards_ownership_saves_and_reset_quirk():
    # default's stakes (r_own 20, p_own 40, c .5, A = L = 100) with certain extinguishing and no ignition
    sim = BucketBrigadeSimulator(1, {"kappa": 1.0, "rho": 0.0})
    rng = np.random.default_rng(0)
    sim.reset_where(np.ones(1, bool), rng)
    work_0 = {a: np.array([[0, 1]]) for a in sim.possible_agents}
    sim.houses[0, 0] = 1  # a fire at house 0 (agent 0's) at reset
    r, *_ = sim.step(work_0, rng)
    # "prev" is all SAFE after a reset, so putting out the initial fire earns no save bonus (quirk)
    assert sim.houses[0].tolist() == [0] * 10
    np.testing.assert_allclose(r[0], [-0.5 + 100] * 4)
    sim.houses[0, 0] = sim.prev[0, 0] = 1  # a fire seen at the start of a later night
    r, *_ = sim.step(work_0, rng)
    np.testing.assert_allclose(r[0], [-0.5 + 100 + 20, -0.5 + 100, -0.5 + 100, -0.5 + 100])
    sim.houses[0, 4] = sim.prev[0, 4] = 1  # agent 0 owns house 4 too; nobody works there -> RUINED
    rest = {a: np.array([[1, 0]]) for a in sim.possible_agents}
    for _ in range(2):  # the penalty is charged every night the house stays RUINED
        r, *_ = sim.step(rest, rng)
        team = 100 * 0.9 - 100 * 0.1
        np.testing.assert_allclose(r[0], [0.5 + team - 40, 0.5 + team, 0.5 + team, 0.5 + team])
    assert sim.houses[0, 4] == 2


# ---- observation ----------------------------------------------------------------------------------

def test_observation_layout_and_decoding():
    env = vec_env("default", num_envs=32, seed=0, opponents={"agent_1": "hero"}, signal_bit=True)
    obs, _ = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(5):
        acts = {a: rng.integers(0, (10, 2, 2), size=(32, 3)) for a in env.possible_agents}
        obs, *_ = env.step(acts)
    sim, layout = env.sim, env.sim.layout
    space = env.single_observation_space("agent_0")
    for seat, agent in zip((0, 2, 3), env.possible_agents):
        o = obs[agent]
        assert o.dtype == np.float32 and all(space.contains(row) for row in o)
        d = layout.decode(o)
        np.testing.assert_array_equal(d["houses"], sim.houses)
        np.testing.assert_array_equal(d["locations"], sim.locations)
        np.testing.assert_array_equal(d["signals"], sim.signals)
        np.testing.assert_array_equal(d["modes"], sim.modes)
        np.testing.assert_array_equal(d["night"], sim.night)
        assert (d["seat"] == seat).all()
        np.testing.assert_allclose(o[:, layout.slices["scenario"]],
                                   np.tile([.25, .5, .02, 1, 1, .2, 0, .4, 0, .5, 1.2, .4], (32, 1)), rtol=1e-6)
    sl = layout.slices
    assert sl["houses"] == slice(0, 30) and sl["time"].stop == layout.dim == 96


def test_fire_ranks_deal_the_burning_houses_to_the_seats_in_turn():
    fiery = {"rho": 0.15, "min_nights": 20}  # often more fires at once than seats
    plain = vec_env(fiery, num_envs=64, seed=2)
    env = vec_env(fiery, num_envs=64, seed=2, fire_ranks=True, opponents={"agent_2": "hero"})
    layout, sl = env.sim.layout, env.sim.layout.slices["fire_ranks"]
    assert layout.dim == plain.sim.layout.dim + 40 and sl == slice(96, 136)
    assert env.single_observation_space("agent_0").shape == (136,)
    rng = np.random.default_rng(0)
    obs, _ = env.reset()
    seen_counts = set()
    for _ in range(30):
        burning = env.sim.houses == 1
        for seat, agent in zip((0, 1, 3), env.possible_agents):
            table = obs[agent][:, sl].reshape(64, 10, 4)
            np.testing.assert_array_equal(obs[agent][:, :96], plain.sim.layout.build(
                env.sim.houses, env.sim.signals, env.sim.locations, env.sim.modes, env.sim.night,
                np.array([seat]))[:, 0])  # the other slices are unchanged
            for e in range(64):
                fires = np.flatnonzero(burning[e])
                seen_counts.add(len(fires))
                want = np.zeros((10, 4))
                for j in range(4):  # seat j's share: the (j mod k)-th burning house
                    if len(fires):
                        want[fires[j % len(fires)], j] = 1
                np.testing.assert_array_equal(table[e], want)
        obs, *_ = env.step({a: rng.integers(0, (10, 2), size=(64, 2)) for a in env.possible_agents})
    assert {0, 1, 2, 3, 4, 5}.issubset(seen_counts)  # no fire, fewer fires than seats, as many, more


def test_signal_bit_is_free_and_default_signal_is_the_mode():
    env = parallel_env("easy", signal_bit=True)
    env.reset(seed=0)
    env.step({"agent_0": [1, 1, 0], "agent_1": [2, 0, 1], "agent_2": [3, 0, 0], "agent_3": [4, 1, 1]})
    assert env.sim.signals[0].tolist() == [0, 1, 0, 1] and env.sim.modes[0].tolist() == [1, 0, 0, 1]
    env = parallel_env("easy")
    env.reset(seed=0)
    env.step({"agent_0": [1, 1], "agent_1": [2, 0], "agent_2": [3, 0], "agent_3": [4, 1]})
    assert env.sim.signals[0].tolist() == [1, 0, 0, 1]


def test_render_ansi():
    env = parallel_env("default", render_mode="ansi")
    env.reset(seed=0)
    env.step({a: [0, 1] for a in env.agents})
    text = env.render()
    assert text.startswith("night   1 | houses ") and "0:W@0" in text
    assert parallel_env("default").render() is None
    with pytest.raises(EnvError, match="render_mode"):
        parallel_env("default", render_mode="human")


# ---- input errors ---------------------------------------------------------------------------------

def test_action_errors_name_agent_and_value():
    env = vec_env("default", num_envs=2, seed=0)
    env.reset()
    good = {a: np.zeros((2, 2), np.int64) for a in env.possible_agents}
    with pytest.raises(EnvError, match="out of range"):
        env.step({**good, "agent_2": np.array([[10, 0], [0, 0]])})
    with pytest.raises(EnvError, match="out of range"):
        env.step({**good, "agent_1": np.array([[0, -1], [0, 0]])})
    with pytest.raises(EnvError, match=r"expected \(2, 4, 2\)"):
        env.step({a: np.zeros((2, 3), np.int64) for a in env.possible_agents})


@pytest.mark.parametrize("size", [{}, {"num_agents": 6, "num_houses": 4}])
def test_egocentric_view_is_the_absolute_one_seen_from_the_seats_home(size):
    fiery = {"rho": 0.15, "min_nights": 20}
    plain = vec_env(fiery, num_envs=32, seed=3, fire_ranks=True, **size)
    env = vec_env(fiery, num_envs=32, seed=3, fire_ranks=True, egocentric=True, opponents={"agent_1": "hero"}, **size)
    layout, sl = env.sim.layout, env.sim.layout.slices
    n, h = layout.num_agents, layout.num_houses
    assert layout.dim == plain.sim.layout.dim
    rng = np.random.default_rng(1)
    obs, _ = env.reset()
    for _ in range(25):
        sim = env.sim
        absolute = plain.sim.layout.build(sim.houses, sim.signals, sim.locations, sim.modes, sim.night, np.arange(n))
        for agent in env.possible_agents:
            i = int(agent[6:])
            o, a = obs[agent], absolute[:, i]
            home = i % h
            rel_h, rel_s = (np.arange(h) + home) % h, (np.arange(n) + i) % n  # absolute house / seat at each index
            np.testing.assert_array_equal(o[:, sl["houses"]].reshape(-1, h, 3),
                                          a[:, sl["houses"]].reshape(-1, h, 3)[:, rel_h])
            np.testing.assert_array_equal(o[:, sl["signals"]], a[:, sl["signals"]][:, rel_s])
            np.testing.assert_array_equal(o[:, sl["last_modes"]], a[:, sl["last_modes"]][:, rel_s])
            loc = o[:, sl["locations"]].reshape(-1, n, h).argmax(-1)  # relative house of each relative seat
            np.testing.assert_array_equal((loc + home) % h, sim.locations[:, rel_s])
            ranks = o[:, sl["fire_ranks"]].reshape(-1, h, n)
            np.testing.assert_array_equal(ranks, a[:, sl["fire_ranks"]].reshape(-1, h, n)[:, rel_h][:, :, rel_s])
            for name in ("identity", "scenario", "time"):
                np.testing.assert_array_equal(o[:, sl[name]], a[:, sl[name]])
            d = layout.decode(o)  # decoding maps the view back to absolute houses and seats
            for key, want in (("houses", sim.houses), ("locations", sim.locations), ("signals", sim.signals),
                              ("modes", sim.modes), ("night", sim.night)):
                np.testing.assert_array_equal(d[key], want)
            assert (d["seat"] == i).all()
        acts = {a: rng.integers(0, (h, 2), size=(32, 2)) for a in env.possible_agents}
        obs, *_ = env.step(acts)
        played = env.sim.night > 0  # not reset after its last night
        for agent, act in acts.items():  # a house action counts from the seat's home
            i = int(agent[6:])
            np.testing.assert_array_equal(env.sim.locations[played, i], ((act[:, 0] + i % h) % h)[played])


def test_egocentric_frame_changes_no_outcome_for_scripted_play():
    """Scripted agents acting through the learner seats (as in cross-play and leagues) play the same games in
    both frames: the frame is a change of coordinates, not of rules."""
    results = []
    for egocentric in (False, True):
        env = vec_env("hard", num_envs=64, seed=4, egocentric=egocentric)
        policy = make_policy("firefighter", [0, 1, 2, 3], 4, 10, rng=np.random.default_rng(7))
        obs, _ = env.reset()
        total = np.zeros(64)
        for _ in range(30):
            obs, rewards, *_ = env.step(policy.act_on_observations(obs, env.sim.layout))
            total += sum(rewards.values())
        results.append((total, env.sim.locations.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][0].std() > 0


@pytest.mark.parametrize("kwargs, field", [
    ({"mode": "exact"}, "mode"),
    ({"max_nights": 0}, "max_nights"),
    ({"signal_bit": "yes"}, "signal_bit"),
    ({"fire_ranks": 1}, "fire_ranks"),
    ({"egocentric": "on"}, "egocentric"),
    ({"opponents": {"agent_9": "hero"}}, "opponents"),
    ({"opponents": {"bob": "hero"}}, "opponents"),
    ({"opponents": {0: "villain"}}, "policy"),
    ({"opponents": {0: "hero", 1: "hero", 2: "hero", 3: "hero"}}, "opponents"),
    ({"opponents": {0: [1, 2]}}, "theta"),
    ({"num_agents": 0}, "scenario.num_agents"),
])
def test_env_kwarg_errors(kwargs, field):
    with pytest.raises(ConfigError) as err:
        parallel_env("default", **kwargs)
    assert err.value.field == field


def test_opponent_seats_are_not_possible_agents():
    env = parallel_env("hard", opponents={"agent_3": "always_rest", 1: "specialist"})
    assert env.possible_agents == ["agent_0", "agent_2"]
    ident = env.sim.layout.slices["identity"]
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        assert obs["agent_2"][ident].tolist() == [0, 0, 1, 0]
        burning_owned = [h for h in (1, 5, 9) if env.sim.houses[0, h] == 1]
        _, rew, *_ = env.step({"agent_0": [0, 0], "agent_2": [0, 0]})
        assert set(rew) == {"agent_0", "agent_2"}
        assert env.sim.locations[0].tolist()[3] == 3 and env.sim.modes[0, 3] == 0  # always_rest at home
        expected = [burning_owned[0], 1] if burning_owned else [1, 0]  # specialist
        assert [env.sim.locations[0, 1], env.sim.modes[0, 1]] == expected


# ---- reward sharing -------------------------------------------------------------------------------

@pytest.mark.parametrize("opponents", [{}, {"agent_3": "all_work"}])
def test_reward_sharing_mixes_in_the_team_mean_and_leaves_metrics_unshared(opponents):
    """w = 0 is the scenario's own reward; w blends in the mean over all seats (scripted ones too);
    the dynamics and the episode metrics do not depend on w."""
    runs = {}
    for w in (0.0, 0.25, 1.0):
        env = vec_env("hard", num_envs=16, seed=4, opponents=opponents, reward_sharing=w)
        env.reset()
        rng = np.random.default_rng(1)
        rewards, full = [], []
        for _ in range(8):
            acts = {a: rng.integers(0, (10, 2), size=(16, 2)) for a in env.possible_agents}
            before = env.sim.returns.copy()
            _, rew, *_ = env.step(acts)
            full.append(env.sim.returns - before)  # every seat's unshared reward of this night
            rewards.append(np.stack([rew[a] for a in env.possible_agents], axis=1))
        runs[w] = (np.array(rewards), np.array(full), env.sim.episode_metrics()["team_return"])
    own, full, team_return = runs[0.0]
    seats = env.sim.learner_seats
    np.testing.assert_allclose(own, full[..., seats], rtol=1e-6)
    assert not np.allclose(own, runs[1.0][0])  # the test would not notice a no-op
    for w, (shared, full_w, team_w) in runs.items():
        np.testing.assert_array_equal(full_w, full)
        np.testing.assert_array_equal(team_w, team_return)
        expected = (1 - w) * full[..., seats] + w * full.mean(axis=2, keepdims=True)
        np.testing.assert_allclose(shared, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "1"])
def test_reward_sharing_rejects_values_outside_unit_interval(bad):
    with pytest.raises(ConfigError, match="reward_sharing"):
        vec_env("default", num_envs=2, reward_sharing=bad)
