"""Scripted Bucket Brigade agents (spec section 8) and the baselines table."""

from __future__ import annotations

import numpy as np
import pytest

from evo_marl.envs.bucket_brigade import vec_env
from evo_marl.envs.bucket_brigade.agents import ARCHETYPES, POLICY_NAMES, PublicState, make_policy
from evo_marl.envs.bucket_brigade.baselines import format_csv, format_table, run_baselines, run_cell, write_table
from evo_marl.errors import ConfigError

HOUSES = np.array([1, 0, 0, 2, 1, 1, 0, 0, 0, 0], np.int8)  # fires at 0, 4, 5; house 3 ruined
LOCATIONS = np.array([0, 4, 4, 9])


def scalar_decision(theta, seat, houses, locations, rng):
    """Spec section 8 transcribed for one agent on its first night (no previous action)."""
    honesty, work_t, nhelp, own_p, risk, coord, explore, _fatigue, rest_b, altruism = theta
    h = len(houses)
    own = seat % h
    burning = [x == 1 for x in houses]
    intent = (work_t + risk * sum(burning) / h + 0.5 * own_p * burning[own]) * (1 - rest_b)
    intent = min(max(intent, 0.0), 1.0)
    want = intent > 0.5
    signal = want if rng.random() < honesty else not want
    scores = []
    for x in range(h):
        dist = min(abs(x - own), h - abs(x - own))
        nbs = [(x - 1) % h, (x + 1) % h]
        fires = sum(burning[n] for n in nbs)
        score = (0.1 / (1 + dist) + own_p * (x == own) + 0.5 * burning[x] + 0.3 * nhelp * (fires > 0)
                 + 0.1 * coord * sum(loc == x for loc in locations) - 0.2 * risk * fires)
        scores.append(max(score, 0.01))
    house = int(rng.choice(h, p=np.array(scores) / sum(scores)))
    mode = int(rng.random() < honesty) if signal else int(rng.random() < intent * altruism)
    if rng.random() < explore:
        house, mode = int(rng.integers(h)), int(rng.integers(2))
    return house, mode, int(signal)


def _freq(values, size):
    return np.bincount(values, minlength=size) / len(values)


@pytest.mark.parametrize("archetype, seat", [("firefighter", 0), ("free_rider", 2), ("coordinator", 0),
                                             ("liar", 2), ("hero", 3)])
def test_heuristic_matches_scalar_transcription_in_distribution(archetype, seat):
    n = 40_000
    policy = make_policy(archetype, [seat], 4, 10, rng=1)
    state = PublicState(np.tile(HOUSES, (n, 1)), np.tile(LOCATIONS, (n, 1)), np.zeros(n, np.int64))
    acts, signals = policy.act(state)
    rng = np.random.default_rng(2)
    ref = np.array([scalar_decision(ARCHETYPES[archetype], seat, HOUSES.tolist(), LOCATIONS.tolist(), rng)
                    for _ in range(6000)])
    for ours, theirs, size in ((acts[:, 0, 0], ref[:, 0], 10), (acts[:, 0, 1], ref[:, 1], 2),
                               (signals[:, 0], ref[:, 2], 2)):
        p, q = _freq(ours, size), _freq(theirs, size)
        tol = 4.5 * np.sqrt(np.maximum(p * (1 - p), 1e-4) * (1 / len(ours) + 1 / len(theirs)))
        assert (np.abs(p - q) <= tol).all(), (archetype, p, q)


def test_random_theta_is_redrawn_per_episode_and_kept_within_it():
    policy = make_policy("random", [0, 1], 2, 5, rng=0)
    houses = np.zeros((3, 5), np.int8)
    locs = np.zeros((3, 2), np.int64)
    policy.act(PublicState(houses, locs, np.array([0, 0, 0])))
    first = policy._theta.copy()
    assert not np.allclose(first[0], first[1]) and not np.allclose(first[:, 0], first[:, 1])
    policy.act(PublicState(houses, locs, np.array([1, 1, 1])))
    np.testing.assert_array_equal(policy._theta, first)
    policy.act(PublicState(houses, locs, np.array([2, 0, 5])))  # env 1 starts a new episode
    np.testing.assert_array_equal(policy._theta[[0, 2]], first[[0, 2]])
    assert not np.allclose(policy._theta[1], first[1])
    assert ((policy._theta >= 0) & (policy._theta < 1)).all()


def test_copy_memory_forks_running_episodes():
    policy = make_policy("random", [0, 1], 2, 5, rng=0)  # random theta per episode: memory that matters
    houses = np.zeros((3, 5), np.int8)
    locs = np.zeros((3, 2), np.int64)
    policy.act(PublicState(houses, locs, np.array([0, 0, 0])))
    fork = make_policy("random", [0, 1], 2, 5, rng=1)
    rows = np.array([2, 2, 0])
    fork.copy_memory(policy, rows)
    np.testing.assert_array_equal(fork._theta, policy._theta[rows])
    np.testing.assert_array_equal(fork._last, policy._last[rows])
    fork.act(PublicState(houses, locs, np.array([3, 3, 3])))  # mid-episode: the copied theta is kept
    np.testing.assert_array_equal(fork._theta, policy._theta[rows])
    make_policy("all_work", [0], 2, 5).copy_memory(policy, rows)  # memoryless policies: nothing to copy


def test_fatigue_memory_repeats_the_previous_action():
    n = 20_000
    policy = make_policy("hero", [1], 4, 10, rng=0)  # fatigue_memory .9, no exploration
    houses = np.tile(HOUSES, (n, 1))
    first, _ = policy.act(PublicState(houses, np.tile(LOCATIONS, (n, 1)), np.zeros(n, np.int64)))
    second, _ = policy.act(PublicState(np.zeros_like(houses), np.tile(LOCATIONS, (n, 1)), np.ones(n, np.int64)))
    same = (first == second).all(axis=-1).mean()
    assert 0.9 <= same < 0.93  # 0.9 repeat + the rare chance to pick the same action afresh


def test_simple_policies():
    houses = np.array([[0, 0, 0, 0, 1, 0, 1, 0, 0, 1], [0] * 10, [2, 1, 0, 0, 0, 0, 0, 0, 0, 0]], np.int8)
    state = PublicState(houses, np.zeros((3, 4), np.int64), np.zeros(3, np.int64))
    acts, sig = make_policy("always_rest", range(4), 4, 10).act(state)
    assert (acts[..., 1] == 0).all() and (acts[..., 0] == np.arange(4)).all() and (sig == 0).all()
    acts, sig = make_policy("specialist", range(4), 4, 10).act(state)
    # owners: agent 0 {0, 4, 8}, agent 1 {1, 5, 9}, agent 2 {2, 6}, agent 3 {3, 7}
    assert acts[0].tolist() == [[4, 1], [9, 1], [6, 1], [3, 0]]
    assert acts[1].tolist() == [[0, 0], [1, 0], [2, 0], [3, 0]]
    assert acts[2].tolist() == [[0, 0], [1, 1], [2, 0], [3, 0]]
    assert (sig == acts[..., 1]).all()
    acts, _ = make_policy("all_work", range(4), 4, 10, rng=0).act(state)
    assert set(acts[0, :, 0]) <= {4, 6, 9} and (acts[0, :, 1] == 1).all()
    assert (acts[1, :, 1] == 0).all() and (acts[2] == [[1, 1]] * 4).all()
    big = PublicState(np.tile(houses[:1], (30_000, 1)), np.zeros((30_000, 4), np.int64), np.zeros(30_000, np.int64))
    chosen, _ = make_policy("all_work", [0], 4, 10, rng=0).act(big)
    np.testing.assert_allclose(_freq(chosen[:, 0, 0], 10)[[4, 6, 9]], 1 / 3, atol=0.015)
    acts, sig = make_policy("uniform_random", [0, 1], 4, 10, rng=0).act(big)
    np.testing.assert_allclose(_freq(acts[..., 0].ravel(), 10), 0.1, atol=0.01)
    assert abs(acts[..., 1].mean() - 0.5) < 0.01 and abs(sig.mean() - 0.5) < 0.01


def test_policy_seeding():
    state = PublicState(np.tile(HOUSES, (50, 1)), np.tile(LOCATIONS, (50, 1)), np.zeros(50, np.int64))
    for name in POLICY_NAMES:
        a = make_policy(name, [0, 3], 4, 10, rng=7).act(state)
        b = make_policy(name, [0, 3], 4, 10, rng=7).act(state)
        c = make_policy(name, [0, 3], 4, 10, rng=8).act(state, rng=np.random.default_rng(7))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0], c[0])  # an explicit rng wins over the policy's own


def test_policy_errors():
    with pytest.raises(ConfigError, match="unknown scripted policy"):
        make_policy("villain", [0], 4, 10)
    with pytest.raises(ConfigError, match="10 finite numbers"):
        make_policy([0.5] * 9, [0], 4, 10)
    with pytest.raises(ConfigError, match="seat indices"):
        make_policy("hero", [4], 4, 10)


def test_policy_drives_vec_env_from_observations():
    """A scripted team acting on decoded observations acts exactly as on the simulator's own state."""
    outside = vec_env("hard", num_envs=8, seed=3, opponents={"agent_3": "always_rest"})
    team = make_policy("coordinator", [0, 1, 2], 4, 10)
    obs, _ = outside.reset()
    for _ in range(30):
        state = outside.sim.public_state()
        direct = team.act(state, rng=np.random.default_rng(5))
        via_obs = team.act_on_observations(obs, outside.sim.layout, rng=np.random.default_rng(5))
        for j, seat in enumerate(team.seats):
            np.testing.assert_array_equal(via_obs[f"agent_{seat}"], direct[0][:, j])
        obs, *_ = outside.step(via_obs)


# ---- baselines ------------------------------------------------------------------------------------

def test_run_baselines_rows_and_tables(tmp_path):
    rows = run_baselines(scenarios=["trivial_cooperation", "hard"], policies=["always_rest", "all_work", "hero"],
                         episodes=40, seed=0, num_envs=16)
    assert [(r["scenario"], r["policy"]) for r in rows] == [
        (s, p) for s in ("trivial_cooperation", "hard") for p in ("always_rest", "all_work", "hero")]
    by = {(r["scenario"], r["policy"]): r for r in rows}
    # no fire ever: resting pays 4 * (100 + 0.5) every night, exactly
    assert by["trivial_cooperation", "always_rest"]["mean"] == pytest.approx(402.0)
    assert by["trivial_cooperation", "always_rest"]["ci_high"] == pytest.approx(402.0)
    assert by["trivial_cooperation", "all_work"]["work_fraction"] == 0.0
    for r in rows:
        assert r["episodes"] == 40 and r["ci_low"] <= r["mean"] <= r["ci_high"]
    assert by["hard", "all_work"]["mean"] > by["hard", "always_rest"]["mean"] + 50
    table = format_table(rows)
    assert table.splitlines()[0] == "| scenario | always_rest | all_work | hero |"
    assert "| trivial_cooperation | 402.0 ± 0.0 |" in table
    csv_text = format_csv(rows)
    assert csv_text.splitlines()[0].startswith("scenario,policy,episodes,mean,ci_low,ci_high")
    assert write_table(rows, tmp_path / "t.md").read_text() == table
    assert write_table(rows, tmp_path / "sub" / "t.csv").read_text() == csv_text


def test_baseline_cells_are_reproducible_and_independent():
    a = run_cell("default", "liar", episodes=30, seed=4, num_envs=7)
    b = run_cell("default", "liar", episodes=30, seed=4, num_envs=7)
    np.testing.assert_array_equal(a["team_reward_per_night"], b["team_reward_per_night"])
    rows = run_baselines(scenarios=["default"], policies=["hero", "liar"], episodes=30, seed=4, num_envs=7)
    assert rows[1]["mean"] == pytest.approx(a["team_reward_per_night"].mean())


def test_run_baselines_errors():
    with pytest.raises(ConfigError, match="unknown scripted policy"):
        run_baselines(policies=["villain"], episodes=2)
    with pytest.raises(ConfigError, match="episodes"):
        run_baselines(episodes=1)
