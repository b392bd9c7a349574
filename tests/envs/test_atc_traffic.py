"""Random traffic of 2-8 aircraft, padded episodes, mixes of scenarios and random traffic, schedules,
and the observation options for dense traffic."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from evo_marl.envs.atc import parallel_env, vec_env
from evo_marl.envs.atc.generator import (
    GeneratorConfig, predicted_conflict, sample, time_to_first_los,
)
from evo_marl.envs.atc.observation import feature_names
from evo_marl.errors import CheckpointError, ConfigError, EnvError

TAS = 1.1548


def _zeros(env, n=None):
    return {a: np.zeros((n, 2) if n else 2, np.float32) for a in env.agents}


# ---- generator ------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_aircraft", [2, 3, 4, 6, 8])
def test_draws_obey_every_fairness_rule(num_aircraft):
    cfg = GeneratorConfig(num_aircraft=num_aircraft)
    t = sample(cfg, 300, np.random.default_rng(0))
    assert t.start.shape == (300, num_aircraft, 2) and t.present.all()
    assert np.abs(t.start).max() <= 25 and np.abs(t.waypoint).max() <= 25
    d = np.linalg.norm(t.start[:, :, None] - t.start[:, None], axis=-1) + np.eye(num_aircraft) * 1e9
    assert d.min() >= cfg.min_start_sep_nm
    assert np.linalg.norm(t.waypoint - t.start, axis=-1).min() >= cfg.min_leg_nm
    assert time_to_first_los(t.start, t.waypoint, t.cas * TAS).min() >= cfg.min_time_to_los_s
    leg = t.waypoint - t.start
    np.testing.assert_allclose(t.heading, np.degrees(np.arctan2(leg[..., 0], leg[..., 1])) % 360)
    share = predicted_conflict(t.start, t.waypoint, t.cas * TAS).mean()
    assert 0.8 <= share <= 1.0, share  # most draws hold a conflict


def test_counts_vary_within_the_range_and_absent_slots_come_last():
    t = sample(GeneratorConfig(num_aircraft=[2, 8]), 700, np.random.default_rng(1))
    counts = t.present.sum(axis=1)
    assert set(np.unique(counts)) == set(range(2, 9))
    assert np.all(t.present == (np.arange(8) < counts[:, None]))


def test_generator_is_deterministic_per_generator():
    cfg = GeneratorConfig(num_aircraft=[2, 6])
    a, b = sample(cfg, 50, np.random.default_rng(3)), sample(cfg, 50, np.random.default_rng(3))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.start, sample(cfg, 50, np.random.default_rng(4)).start)


def test_difficulty_knobs():
    rng = np.random.default_rng(0)
    two = sample(GeneratorConfig(num_aircraft=2, conflict_probability=1.0, crossing_angle_deg=[30, 60],
                                 cas_kt=[220, 280], miss_distance_nm=0.0, arrival_spread_s=0.0), 300, rng)
    angle = np.abs((two.heading[:, 0] - two.heading[:, 1] + 180) % 360 - 180)
    assert angle.min() >= 30 - 1e-6 and angle.max() <= 60 + 1e-6
    assert two.cas.min() >= 220 and two.cas.max() <= 280 and two.cas.std() > 10
    assert predicted_conflict(two.start, two.waypoint, two.cas * TAS).all()
    merge = sample(GeneratorConfig(num_aircraft=2, conflict_probability=1.0, merge_probability=1.0,
                                   miss_distance_nm=0.0, crossing_angle_deg=[10, 40], time_to_conflict_s=[250, 400]),
                   200, rng)
    np.testing.assert_allclose(merge.waypoint[:, 0], merge.waypoint[:, 1], atol=1e-9)  # one merge point
    calm = sample(GeneratorConfig(num_aircraft=4, conflict_probability=0.0), 500, rng)
    assert predicted_conflict(calm.start, calm.waypoint, calm.cas * TAS).mean() < 0.8
    late = sample(GeneratorConfig(num_aircraft=3, min_time_to_los_s=150.0), 200, rng)
    assert time_to_first_los(late.start, late.waypoint, late.cas * TAS).min() >= 150.0


def test_time_to_first_los_matches_straight_flight():
    env = vec_env("random", num_envs=64, seed=3, num_aircraft=4, geometry_scale=1.0, preroll_substeps=0)
    env.reset()
    sim = env.sim
    start = np.stack([sim.x.T, sim.y.T], -1)
    wp = np.stack([sim.wp_x.T, sim.wp_y.T], -1)
    predicted = time_to_first_los(start, wp, sim.cas.T * TAS)
    first = np.full(64, np.inf)
    for step in range(1, 60):
        _, _, _, _, infos = env.step(_zeros(env, 64))
        hit = np.min([infos[a]["min_sep_nm"] for a in env.agents], axis=0) < 5.0
        first = np.where(hit & np.isinf(first), step * 10.0, first)
        if infos["final_mask"].any():
            break
    seen = np.isfinite(first)
    assert seen.sum() > 30
    assert np.all(predicted[seen] <= first[seen]) and np.all(predicted[seen] > first[seen] - 10.0 - 1e-6)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"num_aircraft": 9}, "num_aircraft"), ({"num_aircraft": [5, 3]}, "num_aircraft"),
    ({"cluster_size": 1}, "cluster_size"), ({"crossing_angle_deg": [10, 200]}, "crossing_angle_deg"),
    ({"cas_kt": [90, 250]}, "cas_kt"), ({"conflict_probability": 1.5}, "conflict_probability"),
    ({"merge_probability": -0.1}, "merge_probability"), ({"min_start_sep_nm": 20.0}, "min_start_sep_nm"),
])
def test_generator_options_are_checked(kwargs, field):
    with pytest.raises(ConfigError) as err:
        parallel_env("random", **kwargs)
    assert err.value.field == field


def test_settings_that_are_never_fair_raise_a_named_error(monkeypatch):
    # no leg of 60 NM fits in a 40 NM box: every try fails, and the growing candidate count must not overflow
    # (it did after about 60 tries: 64 x 2**57 wraps around in int64)
    monkeypatch.setattr("evo_marl.envs.atc.generator.MAX_TRIES", 80)
    cfg = GeneratorConfig(num_aircraft=8, box_nm=40.0, min_leg_nm=60.0)
    with pytest.raises(EnvError, match="still invalid after"):
        sample(cfg, 3, np.random.default_rng(0))


def test_traffic_options_only_apply_to_random_and_mix():
    with pytest.raises(ConfigError, match="only applies to scenario 'random' or 'mix'"):
        parallel_env("head_on", num_aircraft=3)
    with pytest.raises(ConfigError, match="generator options only apply to scenario 'random'"):
        parallel_env("mix", traffic=[{"scenario": "head_on", "num_aircraft": 3}])
    with pytest.raises(ConfigError, match="unknown random-traffic option"):
        parallel_env("mix", traffic=[{"scenario": "random", "aircraft": 3}])
    with pytest.raises(ConfigError, match="non-negative numbers"):
        parallel_env("mix", traffic=[{"scenario": "random", "weight": -1}])
    with pytest.raises(ConfigError, match="sorted by steps"):
        parallel_env("random", schedule=[{"steps": 10}, {"steps": 5}])


# ---- padded episodes ------------------------------------------------------------------------------

@pytest.mark.parametrize("num_aircraft", [2, 3, 4, 5, 6, 7, 8, [2, 8]])
def test_parallel_api_random_traffic_of_every_size(num_aircraft):
    parallel_api_test(parallel_env("random", num_aircraft=num_aircraft), num_cycles=150)


def test_parallel_api_default_mix():
    parallel_api_test(parallel_env("mix"), num_cycles=300)


def test_absent_agents_are_masked_everywhere():
    env = vec_env("random", num_envs=32, seed=0, num_aircraft=[2, 8])
    assert env.agents == [f"A{i}" for i in range(1, 9)]
    obs, infos = env.reset()
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(150):
        active = infos["active_mask"]
        acts = {a: rng.uniform(-1, 1, (32, 2)).astype(np.float32) for a in env.agents}
        obs, rew, _, _, infos = env.step(acts)
        for a in env.agents:
            gone = ~active[a]
            assert np.all(rew[a][gone] == 0) and not infos[a]["conflict"][gone].any()
            assert np.all(obs[a][~infos["active_mask"][a]] == 0)
        if infos["final_mask"].any():
            ep, m = infos["episode"], infos["final_mask"]
            assert np.all(ep["num_aircraft"][m] >= 2) and np.all(ep["waypoint_fraction"][m] <= 1.0)
            checked += int(m.sum())
    assert checked > 20


def test_a_padded_scenario_plays_exactly_as_its_own_env():
    """head_on inside a mix padded to 8 slots: same observations, rewards, infos and metrics for A1, A2."""
    mixed = parallel_env("mix", traffic=[{"scenario": "head_on"}, {"scenario": "random", "num_aircraft": 8,
                                                                    "weight": 0}], neighbor_present_flag=True)
    plain = parallel_env("head_on", neighbor_present_flag=True)
    om, _ = mixed.reset(seed=0)
    op, _ = plain.reset(seed=0)
    assert mixed.agents == ["A1", "A2"] and len(mixed.possible_agents) == 8
    rng = np.random.default_rng(1)
    while plain.agents:
        for a in plain.agents:
            np.testing.assert_array_equal(om[a], op[a])
        acts = {a: rng.uniform(-1, 1, 2).astype(np.float32) for a in plain.agents}
        om, rm, tm, um, im = mixed.step(acts)
        op, rp, tp, up, ip = plain.step(acts)
        assert rm == pytest.approx(rp, abs=1e-6) and tm == tp and um == up
        assert im["A1"]["min_sep_nm"] == pytest.approx(ip["A1"]["min_sep_nm"])
    assert not mixed.agents
    for k, v in plain.last_episode_metrics.items():
        assert mixed.last_episode_metrics[k] == pytest.approx(v, abs=1e-6), k


def test_mix_draws_every_entry_with_its_own_step_cap():
    env = vec_env("mix", num_envs=400, seed=2, traffic=[{"scenario": "merge_4all", "weight": 1},
                                                        {"scenario": "random", "num_aircraft": 2, "weight": 3}])
    env.reset()
    counts = env.sim.present.sum(axis=0)
    assert 70 < np.sum(counts == 4) < 130 and np.sum(counts == 2) == 400 - np.sum(counts == 4)
    np.testing.assert_array_equal(env.sim.cap, np.where(counts == 4, 150, 100))


# ---- schedule -------------------------------------------------------------------------------------

def test_schedule_follows_the_shared_step_clock():
    schedule = [{"steps": 30, "num_aircraft": [5, 6]}, {"steps": 60, "weights": [0, 1]}]
    traffic = [{"scenario": "random", "num_aircraft": [2, 3]}, {"scenario": "head_on", "weight": 0}]
    env = vec_env("mix", num_envs=64, seed=0, traffic=traffic, schedule=schedule)
    evaluation = env.spawn(8)  # a trainer's evaluation env: same clock
    env.reset()
    assert set(env.sim.present.sum(axis=0)) <= {2, 3}
    sizes = []
    for step in range(90):
        env.step(_zeros(env, 64))
        sizes.append(env.sim.present.sum(axis=0))
    assert env.sim.scenario.clock.steps == 90
    late_resets = env.sim.present.sum(axis=0)
    assert set(np.concatenate(sizes[35:55])) >= {5, 6}
    assert set(late_resets) <= {2, 5, 6} and 2 in late_resets  # head_on (2 aircraft) after step 60
    evaluation.reset()
    assert set(evaluation.sim.present.sum(axis=0)) == {2}  # the evaluation env reads the training clock
    again = vec_env("mix", num_envs=64, seed=0, traffic=traffic, schedule=schedule)
    again.reset()
    for _ in range(90):
        again.step(_zeros(again, 64))
    np.testing.assert_array_equal(again.sim.x, env.sim.x)  # deterministic under the seed
    last = vec_env("mix", num_envs=64, seed=0, traffic=traffic, schedule=schedule, schedule_at=60)
    last.reset()
    assert set(last.sim.present.sum(axis=0)) == {2}  # starts on the last stage
    with pytest.raises(ConfigError, match="schedule_at=-1"):
        vec_env("random", num_envs=2, schedule_at=-1)


def test_schedule_clock_is_env_state_that_a_resume_continues():
    schedule = [{"steps": 0, "num_aircraft": [2, 2]}, {"steps": 50, "num_aircraft": [5, 5]}]
    traffic = [{"scenario": "random", "num_aircraft": [2, 5]}]
    env = vec_env("mix", num_envs=8, seed=0, traffic=traffic, schedule=schedule)
    env.reset()
    for _ in range(30):
        env.step(_zeros(env, 8))
    assert env.state_dict() == {"step_count": 30}
    resumed = vec_env("mix", num_envs=8, seed=0, traffic=traffic, schedule=schedule)
    resumed.load_state_dict(env.state_dict())
    resumed.reset()
    for _ in range(25):
        resumed.step(_zeros(resumed, 8))
    assert resumed.state_dict() == {"step_count": 55} and resumed.sim.scenario.clock.steps == 55
    resumed.reset()
    assert set(resumed.sim.present.sum(axis=0)) == {5}  # past step 50: the second stage
    assert vec_env("random", num_envs=2, seed=0).state_dict() == {}  # no schedule, no state
    with pytest.raises(CheckpointError, match="step_count=-3"):
        resumed.load_state_dict({"step_count": -3})


def test_evaluation_envs_follow_the_schedule_clock_without_advancing_it():
    """Only training moves a curriculum on: however many evaluation steps a generation plays, the clock is
    the training env's count (before, an evaluation env's longer episodes pushed it ahead)."""
    schedule = [{"steps": 0, "num_aircraft": [2, 2]}, {"steps": 50, "num_aircraft": [5, 5]}]
    traffic = [{"scenario": "random", "num_aircraft": [2, 5]}]
    train = vec_env("mix", num_envs=4, seed=0, traffic=traffic, schedule=schedule)
    evaluation = train.spawn(3).for_evaluation()
    replica = evaluation.replicated(2)
    clock = train.sim.scenario.clock
    train.reset()
    for _ in range(20):
        train.step(_zeros(train, 4))
    for env, n in ((evaluation, 3), (replica, 6)):
        env.reset(seed=1)
        for _ in range(80):
            env.step(_zeros(env, n))
    assert clock.steps == 20 and evaluation.state_dict() == {} and replica.state_dict() == {}
    for _ in range(40):
        train.step(_zeros(train, 4))
    evaluation.reset(seed=1)
    assert clock.steps == 60 and set(evaluation.sim.present.sum(axis=0)) == {5}  # follows the training stage
    fresh = vec_env("mix", num_envs=2, seed=0, traffic=traffic, schedule=schedule).for_evaluation()
    fresh.load_state_dict(train.state_dict())  # an evaluation starting where a saved training stopped
    fresh.reset()
    assert set(fresh.sim.present.sum(axis=0)) == {5}


# ---- observation options --------------------------------------------------------------------------

def test_observation_options_stay_in_their_space_with_padding():
    env = vec_env("random", num_envs=64, seed=0, num_aircraft=[2, 8], neighbor_topk=5, neighbor_order="threat",
                  neighbor_cpa=True, neighbor_present_flag=True)
    space = env.single_observation_space("A1")
    assert space.shape == (6 + 5 * 8,) and len(feature_names(env.sim.cfg)) == 46
    obs, _ = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(120):
        for a in env.agents:
            assert np.all(obs[a] >= space.low) and np.all(obs[a] <= space.high)
        obs, *_ = env.step({a: rng.uniform(-1, 1, (64, 2)).astype(np.float32) for a in env.agents})


def test_threat_order_and_cpa_features():
    """A1 flies north at a far head-on intruder A3 while A2, beside it and diverging, is nearer."""
    from evo_marl.envs.atc.scenarios import parse_scenario

    scen = parse_scenario({"aircraft": [
        {"id": "A1", "start": [0, 0], "waypoint": [0, 60]},
        {"id": "A2", "start": [-8, 0], "waypoint": [-30, -20]},
        {"id": "A3", "start": [0.5, 30], "waypoint": [0.5, -30]}]})
    names = ["rel_x", "rel_y", "rel_vx", "rel_vy", "present", "t_los", "tcpa", "dcpa"]
    for order, first_dx in (("distance", -8.0), ("threat", 0.5)):
        env = parallel_env(scen, neighbor_order=order, neighbor_cpa=True, neighbor_present_flag=True,
                           geometry_scale=1.0, preroll_substeps=0)
        obs, _ = env.reset(seed=0)
        slot0 = dict(zip(names, obs["A1"][6:14]))
        assert slot0["rel_x"] == pytest.approx(first_dx * 1852 / 20000, abs=1e-4)
    closing = 2 * 250 * TAS / 3600  # NM/s
    assert slot0["tcpa"] == pytest.approx(30 / closing / 300, rel=1e-3)
    assert slot0["dcpa"] == pytest.approx(0.5 / 5, abs=1e-4)
    assert slot0["t_los"] == pytest.approx((30 - np.sqrt(25 - 0.25)) / closing / 300, rel=1e-3)
    assert slot0["present"] == 1.0
    slot1 = dict(zip(names, obs["A1"][14:22]))
    assert slot1["t_los"] == 1.0 and slot1["dcpa"] > 1.0  # A2 is no threat


def test_cpa_features_ignore_the_reward_separation():
    """A reward margin (separation_nm 6) must not change what the policy sees: evaluation drops reward
    options, so a policy trained with one would otherwise meet other features at evaluation."""
    from evo_marl.envs.atc.scenarios import parse_scenario

    scen = parse_scenario({"aircraft": [{"id": "A1", "start": [0, 0], "waypoint": [0, 60]},
                                        {"id": "A2", "start": [0.5, 30], "waypoint": [0.5, -30]}]})

    def first_obs(**kwargs):
        env = parallel_env(scen, neighbor_order="threat", neighbor_cpa=True, geometry_scale=1.0,
                           preroll_substeps=0, **kwargs)
        return env.reset(seed=0)[0]["A1"]

    standard = first_obs()
    np.testing.assert_array_equal(first_obs(reward={"separation_nm": 6.0, "team_full_sep_nm": 12.0}), standard)
    wider = first_obs(cpa_separation_nm=6.0)
    assert wider[6 + 6] == pytest.approx(0.5 / 6, abs=1e-4) and standard[6 + 6] == pytest.approx(0.5 / 5, abs=1e-4)
    with pytest.raises(ConfigError, match="cpa_separation_nm"):
        first_obs(cpa_separation_nm=0.0)


def test_heading_frame_turns_neighbours_into_our_heading():
    """A1 flies east; A2, 10 NM north of it, flies south. In A1's heading frame A2 is on the left and moves
    to the right (south) while falling behind (A1 flies on east); the world frame reads north, south and west."""
    from evo_marl.envs.atc.scenarios import parse_scenario

    scen = parse_scenario({"aircraft": [
        {"id": "A1", "start": [0, 0], "waypoint": [60, 0]},
        {"id": "A2", "start": [0, 10], "waypoint": [0, -50]}]})
    slots = {}
    for frame in ("world", "heading"):
        env = parallel_env(scen, neighbor_frame=frame, geometry_scale=1.0, preroll_substeps=0)
        obs, _ = env.reset(seed=0)
        slots[frame] = obs["A1"][6:10]
    pos, vel = 10 * 1852 / 20000, 250 * TAS / 300
    np.testing.assert_allclose(slots["world"], [0, pos, -vel, -vel], atol=1e-4)  # A2 minus A1: v (0,-s) - (s,0)
    np.testing.assert_allclose(slots["heading"], [-pos, 0, vel, -vel], atol=1e-4)  # (right, ahead)
    with pytest.raises(ConfigError, match="neighbor_frame"):
        parallel_env(scen, neighbor_frame="north_up")


def test_reached_flag_marks_neighbours_at_their_waypoint():
    """A1's waypoint is 3 NM ahead, A2's far away: A1 reaches it first; from then on A2 sees the flag in A1's slot
    (the slot after the present flag) and A1 sees none for A2."""
    from evo_marl.envs.atc.scenarios import parse_scenario

    scen = parse_scenario({"aircraft": [
        {"id": "A1", "start": [0, 0], "waypoint": [0, 3]},
        {"id": "A2", "start": [20, 0], "waypoint": [20, 60]}]})
    env = parallel_env(scen, neighbor_topk=1, neighbor_reached_flag=True, neighbor_present_flag=True,
                       geometry_scale=1.0)
    names = feature_names(env.sim.cfg)
    assert names[6:12] == ["n0_rel_x", "n0_rel_y", "n0_rel_vx", "n0_rel_vy", "n0_present", "n0_reached"]
    obs, _ = env.reset(seed=0)
    assert obs["A2"].shape == (12,) and obs["A2"][11] == 0.0 and env.observation_space("A2").contains(obs["A2"])
    flags = []
    for _ in range(4):
        obs, _, _, _, infos = env.step({a: np.zeros(2, np.float32) for a in env.agents})
        flags.append((bool(infos["A1"]["waypoint_reached"]), float(obs["A2"][11]), float(obs["A1"][11])))
    assert any(reached for reached, _, _ in flags)
    assert all(flag == float(reached) and other == 0.0 for reached, flag, other in flags)
    with pytest.raises(ConfigError, match="neighbor_reached_flag"):
        parallel_env(scen, neighbor_reached_flag="yes")


def test_old_default_observation_is_unchanged():
    env = parallel_env("canonical_crossing")
    obs, _ = env.reset(seed=0)
    assert obs["A1"].shape == (18,)
    assert feature_names(env.sim.cfg)[6:10] == ["n0_rel_x", "n0_rel_y", "n0_rel_vx", "n0_rel_vy"]


def test_tracks_and_frames_of_padded_episodes_hold_only_present_aircraft():
    from evo_marl.envs.atc.render import plot_trajectories
    from evo_marl.envs.atc.tracks import record_episode

    env = parallel_env("random", num_aircraft=[2, 8], render_mode="rgb_array")
    for seed in range(6):
        env.reset(seed=seed)
        count = len(env.agents)
        if count < 8:
            break
    assert count < 8
    frame = env.render()
    assert frame.shape == (480, 480, 3) and frame.std() > 0
    tracks = record_episode(env, seed=seed)
    assert tracks.agent_ids == tuple(f"A{i}" for i in range(1, count + 1))
    assert tracks.x.shape[1] == count and np.abs(tracks.x).max() < 100  # no far-away dummy slots
    assert tracks.metrics["num_aircraft"] == count
    plot_trajectories(tracks)


def test_buffer_term_penalises_closeness_inside_the_margin_only():
    """Two aircraft flying side by side 5.5 NM apart: inside a 1 NM buffer (half way), outside a 0.4 NM one."""
    from evo_marl.envs.atc.scenarios import parse_scenario

    scen = parse_scenario({"aircraft": [
        {"id": "A1", "start": [0, 0], "waypoint": [0, 60]},
        {"id": "A2", "start": [5.5, 0], "waypoint": [5.5, 60]}]})
    for buffer_nm, expected in ((1.0, -0.2 * 0.5), (0.4, 0.0), (0.0, 0.0)):
        env = parallel_env(scen, buffer_nm=buffer_nm, buffer_penalty=-0.2, geometry_scale=1.0, preroll_substeps=0)
        env.reset(seed=0)
        _, _, _, _, infos = env.step(_zeros(env))
        assert infos["A1"]["reward_buffer"] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ConfigError, match="buffer_nm"):
        parallel_env(scen, buffer_nm=-1.0)
