"""ATC rendering, recorded tracks, safety metrics, conflict-detection analysis and shift testing."""

from __future__ import annotations

import numpy as np
import pytest

import evo_marl
from evo_marl.envs.atc import parallel_env
from evo_marl.envs.atc.analysis import (
    DetectionThresholds,
    agent_alerts,
    conflict_detection,
    default_shifts,
    evaluate_shifts,
    ground_truth,
    shift_scenario,
)
from evo_marl.envs.atc.metrics import is_conflict_free, los_risk
from evo_marl.envs.atc.render import plot_trajectories
from evo_marl.envs.atc.tracks import Tracks, record_episode
from evo_marl.errors import EnvError

TAS = 250 * 1.1548


# ---- rendering ------------------------------------------------------------------------------------

def test_rgb_frames():
    env = evo_marl.make_env("atc/canonical_crossing", render_mode="rgb_array")
    env.reset()
    for _ in range(14):  # into the conflict: red circles
        env.step({a: np.zeros(2) for a in env.agents})
    frame = env.render()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8
    assert frame.std() > 10 and len(np.unique(frame.reshape(-1, 3), axis=0)) > 20  # not blank
    red = (frame[..., 0] > 200) & (frame[..., 1] < 80) & (frame[..., 2] < 80)
    assert red.sum() > 100
    assert parallel_env("head_on").render() is None  # render_mode None
    with pytest.raises(EnvError, match="supported render modes"):
        parallel_env("head_on", render_mode="human")
    venv = evo_marl.make_vec_env("atc/random", num_envs=3, seed=0)
    venv.reset()
    assert venv.render(2).shape == (480, 480, 3)


def test_plot_trajectories_writes_a_png(tmp_path):
    tracks = record_episode("t_formation")
    path = tmp_path / "tracks.png"
    fig = plot_trajectories(tracks, path=path)
    assert path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "min sep 1.52 NM" in fig.axes[0].get_title()


# ---- tracks and metrics ---------------------------------------------------------------------------

def test_record_episode_with_a_policy():
    calls = []

    def policy(obs):
        calls.append(sorted(obs))
        return {a: np.array([0.5, 0.0], np.float32) for a in obs}

    tracks = record_episode(parallel_env("head_on"), policy, seed=0, max_steps=5)
    assert len(calls) == 5 and tracks.num_steps == 5 and tracks.x.shape == (6, 2)
    np.testing.assert_allclose(tracks.heading_change_deg, 9.0)
    assert tracks.metrics == {}  # stopped before the end
    full = record_episode("head_on")
    assert full.metrics["episode_length"] == full.num_steps == 44
    assert full.closest_approach()[0] == 22


def test_los_risk_and_conflict_free():
    assert los_risk([0.4, 6.0, 7.0, 4.9]) == 0.5
    assert los_risk(np.array([5.0, 8.0])) == 0.0
    with pytest.raises(EnvError, match="at least one episode"):
        los_risk([])
    assert is_conflict_free({"los_events": 0.0, "waypoint_fraction": 1.0})
    assert not is_conflict_free({"los_events": np.array([0.0, 1.0]), "waypoint_fraction": np.array([1.0, 1.0])})
    assert not is_conflict_free({"los_events": 0.0, "waypoint_fraction": 0.75})
    with pytest.raises(EnvError, match="missing"):
        is_conflict_free({"team_return": 3.0})
    assert is_conflict_free(record_episode("parallel").metrics)
    assert not is_conflict_free(record_episode("head_on").metrics)


# ---- conflict detection ---------------------------------------------------------------------------

def _hand_built() -> Tracks:
    """A1 flies north toward (0, 40); A2 is placed anew at each decision step:

    t=0: A2 20 NM east on a parallel track (no conflict); A1 turns 18 deg right: no intruder -> TN.
    t=1: A2 15 NM ahead, head-on (tcpa 94 s, dcpa 0): conflict; A1 turns 18 deg right -> alert: TP.
    t=2: same geometry, A1 does nothing -> FN.
    t=3: A2 offset 5.5 NM: dcpa 5.5 (no conflict, but an intruder within 6 NM); A1 +10 kt -> FP.
    t=4: head-on again, A1 8 deg left of its waypoint turns 6 deg right (toward it) -> no alert: FN.
    """
    a2 = [(20, 0, 0), (0, 15, 180), (0, 15, 180), (5.5, 15, 180), (0, 15, 180), (0, 15, 180)]
    a1_hdg = [0, 0, 0, 0, 352, 0]
    return Tracks(
        agent_ids=("A1", "A2"),
        x=np.array([[0.0, p[0]] for p in a2]), y=np.array([[0.0, p[1]] for p in a2]),
        hdg=np.array([[h, p[2]] for h, p in zip(a1_hdg, a2)], float), tas=np.full((6, 2), TAS),
        reached=np.zeros((6, 2), bool), waypoint=np.array([[0.0, 40.0], [0.0, -40.0]]),
        heading_change_deg=np.array([[18, 0], [18, 0], [0, 0], [0, 0], [6, 0]], float),
        speed_change_kt=np.array([[0, 0], [0, 0], [0, 0], [10, 0], [0, 0]], float),
        rewards=np.zeros((5, 2)),
    )


def test_hand_built_conflicts_and_alerts():
    tracks = _hand_built()
    np.testing.assert_array_equal(ground_truth(tracks), [False, True, True, False, True])
    np.testing.assert_array_equal(agent_alerts(tracks)[:, 0], [False, True, False, True, False])
    report = conflict_detection(tracks)
    assert (report.tp, report.fp, report.fn, report.tn) == (1, 1, 2, 1)
    assert report.precision == 0.5 and report.recall == pytest.approx(1 / 3)
    assert report.ghost_rate == 0.5 and report.missed_rate == pytest.approx(2 / 3)


def test_reached_aircraft_are_not_conflicts_and_thresholds_are_settings():
    tracks = _hand_built()
    tracks.reached[:, 1] = True  # A2 has reached its waypoint: no pair left
    assert not ground_truth(tracks).any() and not agent_alerts(tracks).any()
    wide = DetectionThresholds(separation_nm=6.0)
    assert ground_truth(_hand_built(), wide)[3]  # dcpa 5.5 < 6


def test_head_on_straight_flight_misses_every_conflict():
    report = conflict_detection(record_episode("head_on"))
    assert report.tp == report.fp == 0 and report.fn > 10 and report.recall == 0.0


# ---- shift testing --------------------------------------------------------------------------------

def test_shift_scenario_perturbs_one_agent():
    base = evo_marl.envs.atc.load_scenario("head_on")
    s = shift_scenario(base, "A1", "heading", 10.0)
    assert s.heading_deg[0] == 10.0 and s.heading_deg[1] == 180.0 and s.name == "head_on+A1.heading+10"
    assert shift_scenario(base, "A2", "speed", -20).cas_kt.tolist() == [250.0, 230.0]
    np.testing.assert_allclose(shift_scenario(base, "A1", "position", 2.0).start[0], [0, -16])
    np.testing.assert_allclose(shift_scenario(base, "A1", "position", (3, 0)).start[0], [3, -18])
    np.testing.assert_allclose(shift_scenario(base, "A2", "waypoint", (1, -2)).waypoint[1], [1, -20])
    np.testing.assert_allclose(shift_scenario(base, "A2", "waypoint", 2.0).waypoint[1], [0, -20])
    with pytest.raises(EnvError, match="valid agents are"):
        shift_scenario(base, "A9", "heading", 1.0)
    with pytest.raises(EnvError, match="valid shift kinds are"):
        shift_scenario(base, "A1", "altitude", 1.0)
    with pytest.raises(EnvError, match="equals the start position"):
        shift_scenario(base, "A1", "waypoint", (0, -36))
    assert len(default_shifts("head_on")) == 18  # 6 heading, 4 speed, 4 position, 4 waypoint


def test_evaluate_shifts_replays_a_policy():
    turn_right = lambda obs: {a: np.array([0.3, 0.0], np.float32) for a in obs}  # noqa: E731
    results = evaluate_shifts(turn_right, "head_on", [("A1", "heading", 20.0), ("A2", "speed", 10.0)])
    assert [r.shift for r in results] == [None, ("A1", "heading", 20.0), ("A2", "speed", 10.0)]
    assert results[1].scenario.heading_deg[0] == 20.0
    rows = [r.row() for r in results]
    assert rows[0]["kind"] == "baseline" and {"team_return", "tp", "ghost_rate"} <= set(rows[2])
    straight = evaluate_shifts(None, "head_on", [("A1", "heading", 20.0)])
    assert straight[0].tracks.metrics["min_separation_nm"] < 1.0  # baseline collides head-on
    assert straight[1].tracks.metrics["min_separation_nm"] > 5.0  # a 20 deg offset misses
