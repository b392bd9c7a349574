"""Straight-flight (all-zero actions) episodes of every shipped ATC scenario against known values.

The spec's reference values (head_on, parallel) come from the original BlueSky system and must be
met within 0.5; the other twelve are this implementation's own values, pinned tightly (they are
deterministic), each with the geometry that explains it:

* head_on: closure 2 x 0.802 NM/step from 36 NM; some pair within 5 NM on steps 20-25 (min 0.42 NM
  at step 22); each reaches its waypoint at step 44 (35 NM, minus the 2 s pre-roll, at 0.802 NM/step).
* parallel: 8 NM in trail at equal speed, never in conflict; A3 (14 NM leg) reaches at step 17,
  A2 at 27, A1 at 36; those that arrive early fly on, so their progress after arrival is negative.
* canonical_crossing: all four 12.5 NM from the centre, 30 steps to reach (24 NM); at step 15 each
  is 0.32 NM from the centre, so perpendicular neighbours are sqrt(2) x 0.32 = 0.45 NM apart;
  each aircraft enters LoS once (4 events) and some pair is in LoS for 9 steps.
* converging: waypoints within 3.5 NM of the centre, all reach at step 14 while their tracks
  converge: every aircraft loses separation (4 events), min 0.64 NM (A1-A2, step 11).
* t_formation: the bar aircraft A1 crosses the stem (x = -6) after 14 NM, just as A2 arrives there
  (16 NM): min 1.52 NM at step 19; A3, 6.4 NM ahead of A2, is also within 5 NM of A1: 3 events.
* chase_*: in trail 6 NM apart at equal speed: never below 5 NM (min 6.00); each aircraft's return
  depends only on its leg: 11.83 (30 NM), 11.12 (24), 10.26 (18), 9.41 (12), so
  chase_2x2 = 2 x (11.83 + 11.12), chase_3p1 = 11.83 + 11.12 + 10.26 + 11.83 (the lone A4),
  chase_4all = 11.83 + 11.12 + 10.26 + 9.41.
* cross_*: each crossing pair meets at its crossing point after 15 NM: perpendicular neighbours
  0.55 NM apart at step 19, every crossing aircraft about -18.8; cross_4all equals cross_2x2 (the
  nearest neighbour is the perpendicular one at the same distance); in cross_3p1 the lone A4
  (27 NM leg, 18 NM east) reaches at step 33 with no conflict (+11.52).
* merge_*: 50 NM legs, all reach at step 61; aircraft converging at 15 degrees are
  2 r sin(7.5 deg) = 0.26 r apart, in LoS for the last ~23 steps (r < 19 NM), min 0.25 NM at the end;
  in merge_4all the inner pair (355/5, 10 degrees apart) gets to 2 r sin(5 deg) = 0.17 NM and loses
  more (-33.5 each); merge_3p1's lone A4 (50 NM leg) has no conflict (+12.88).
"""

from __future__ import annotations

import numpy as np
import pytest

from evo_marl.envs.atc import parallel_env
from evo_marl.envs.atc.tracks import record_episode

# scenario: (team return, steps, min separation NM, LoS events, steps in LoS, per-agent returns)
PINNED = {
    "head_on": (-33.544, 44, 0.418, 2, 6, [-16.77, -16.77]),
    "parallel": (32.284, 36, 8.005, 0, 0, [11.81, 10.81, 9.67]),
    "canonical_crossing": (-76.578, 30, 0.451, 4, 9, [-19.14] * 4),
    "converging": (-69.628, 14, 0.643, 4, 10, [-18.65, -18.44, -16.85, -15.70]),
    "t_formation": (-50.782, 49, 1.517, 3, 11, [-17.11, -17.12, -16.55]),
    "chase_2x2": (45.904, 36, 6.004, 0, 0, [11.83, 11.12, 11.83, 11.12]),
    "chase_3p1": (45.046, 36, 6.004, 0, 0, [11.83, 11.12, 10.26, 11.83]),
    "chase_4all": (42.623, 36, 6.004, 0, 0, [11.83, 11.12, 10.26, 9.41]),
    "cross_2x2": (-75.266, 36, 0.548, 4, 8, [-18.82] * 4),
    "cross_3p1": (-45.028, 36, 0.548, 3, 8, [-18.86, -18.84, -18.84, 11.52]),
    "cross_4all": (-75.266, 36, 0.548, 4, 8, [-18.82] * 4),
    "merge_2x2": (-103.774, 61, 0.249, 4, 23, [-25.94] * 4),
    "merge_3p1": (-65.123, 61, 0.249, 3, 23, [-25.97, -26.05, -25.97, 12.88]),
    "merge_4all": (-118.637, 61, 0.166, 4, 35, [-25.82, -33.50, -33.50, -25.82]),
}


def _straight(scenario, **kwargs):
    env = parallel_env(scenario, **kwargs)
    env.reset(seed=0)
    ret = dict.fromkeys(env.possible_agents, 0.0)
    terms: dict[str, dict[str, float]] = {a: {} for a in env.possible_agents}
    steps, last = 0, None
    while env.agents:
        _, rew, term, trunc, info = env.step({a: np.zeros(2, np.float32) for a in env.agents})
        steps += 1
        last = (term, trunc)
        for a, r in rew.items():
            ret[a] += r
            for k, v in info[a].items():
                if k.startswith("reward_"):
                    terms[a][k[7:]] = terms[a].get(k[7:], 0.0) + v
    return ret, terms, steps, env.last_episode_metrics, last


def test_head_on_matches_the_reference():
    ret, terms, steps, metrics, (term, trunc) = _straight("head_on")
    assert sum(ret.values()) == pytest.approx(-33.55, abs=0.5)
    assert steps == 44 and all(term.values()) and not any(trunc.values())
    assert metrics["min_separation_nm"] == pytest.approx(0.42, abs=0.03)
    for agent in ("A1", "A2"):
        assert ret[agent] == pytest.approx(-16.77, abs=0.05)
        expected = {"progress": 2.555, "time": -0.216, "los_entry": -25.0, "los_depth": -3.915, "reach": 10.0,
                    "team": -0.198, "drift": 0.0, "action_cost": 0.0, "timeout": 0.0}
        for term_name, value in expected.items():
            assert terms[agent][term_name] == pytest.approx(value, abs=0.01), term_name


def test_parallel_matches_the_reference():
    ret, terms, steps, metrics, _ = _straight("parallel")
    assert sum(ret.values()) == pytest.approx(32.28, abs=0.5)
    for agent, value in zip(("A1", "A2", "A3"), (11.81, 10.81, 9.67)):
        assert ret[agent] == pytest.approx(value, abs=0.05)
    assert steps == 36
    assert metrics["min_separation_nm"] == pytest.approx(8.00, abs=0.01)
    assert metrics["los_events"] == 0
    assert terms["A3"]["progress"] < 0  # A3 passes its waypoint at step 17 and flies on


@pytest.mark.parametrize("scenario", ["head_on", "parallel"])
def test_the_nominal_flat_frame_also_matches_the_reference(scenario):
    """``geometry_scale=1.0`` (no emulation of the reference's spherical distances) stays within 0.5."""
    ret, _, steps, metrics, _ = _straight(scenario, geometry_scale=1.0)
    assert sum(ret.values()) == pytest.approx({"head_on": -33.55, "parallel": 32.28}[scenario], abs=0.5)
    assert steps == {"head_on": 44, "parallel": 36}[scenario]


@pytest.mark.parametrize("scenario", sorted(PINNED))
def test_every_scenario_straight_flight_is_pinned(scenario):
    team, length, min_sep, los_events, los_steps, per_agent = PINNED[scenario]
    tracks = record_episode(scenario)
    m = tracks.metrics
    assert m["team_return"] == pytest.approx(team, abs=0.01)
    assert m["episode_length"] == length
    assert m["min_separation_nm"] == pytest.approx(min_sep, abs=0.002)
    assert m["los_events"] == los_events
    assert m["los_steps"] == los_steps
    assert m["waypoint_fraction"] == 1.0
    assert m["path_efficiency"] == pytest.approx(1.0, abs=1e-4)  # straight flight (converging: headings 0.06 deg off)
    np.testing.assert_allclose(tracks.rewards.sum(axis=0), per_agent, atol=0.01)
    assert tracks.rewards.sum() == pytest.approx(m["team_return"], abs=1e-3)  # float32 rewards
