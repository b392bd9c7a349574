"""The Bucket Brigade worker-allocation diagnostic counts what the teams do, in either frame."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_bucket_brigade_allocation import allocation  # noqa: E402
from evo_marl.envs.bucket_brigade.agents import make_policy  # noqa: E402


def scripted(name: str):
    policy = make_policy(name, range(4), 4, 10, rng=np.random.default_rng(0))
    return lambda obs, env: policy.act_on_observations(obs, env.sim.layout)


def test_allocation_counts_all_work_and_resting_teams():
    per_bucket = {}
    for egocentric in (False, True):
        result = allocation(scripted("all_work"), "hard", {"egocentric": egocentric}, 64, 1)
        nights, workers, on_fire, covered, same = result["sums"].T
        assert nights[:3].min() > 0 and workers[0] == 0  # nights with 0, 1 and 2 fires; no work without fire
        np.testing.assert_array_equal(workers[1:], 4 * nights[1:])  # every seat works whenever something burns
        np.testing.assert_array_equal(on_fire, workers)
        np.testing.assert_array_equal(covered[1], nights[1])
        assert same[1] == nights[1] and same[2] < nights[2] and covered[2] > nights[2]  # random split of two fires
        per_bucket[egocentric] = result["sums"]
    np.testing.assert_array_equal(per_bucket[False], per_bucket[True])  # the frame changes nothing for them
    rest = allocation(scripted("always_rest"), "hard", {}, 64, 1)
    assert rest["sums"][:, 1:].sum() == 0 and rest["per_night"] < result["per_night"]


def test_rollout_planner_sends_its_worker_where_it_adds_most():
    from bench_bucket_brigade_planner import RolloutPlanner, _team_policies
    from evo_marl.envs.bucket_brigade.simulator import BucketBrigadeSimulator

    game = BucketBrigadeSimulator(3, "default")
    game.reset_where(np.ones(3, bool), np.random.default_rng(0))
    game.houses[:] = 0
    game.houses[0, [3, 7]] = 1  # two fires, every teammate on house 3 tonight
    game.houses[1, 5] = 1  # one fire, no teammate on it
    game.night[:] = 2
    mates = _team_policies(["coordinator"] * 3, 0, 4, 10)
    tonight = np.zeros((3, 4, 2), np.int64)
    tonight[:, 1:] = [3, 1]
    for peek in (True, False):
        planner = RolloutPlanner("default", 0, ["coordinator"] * 3, rollouts=32, peek=peek, rng=1)
        for policy in mates:  # the teammates' per-env memory, as after their first act()
            policy.act(game.public_state(), np.random.default_rng(2))
        choice = planner.choose(game, mates, tonight, np.ones(3, bool))
        assert choice[1].tolist() == [5, 1]  # a lone fire: work it
        assert choice[2].tolist() == [0, 0]  # no fire: rest at home without planning
        if peek:  # seeing three teammates on house 3, the planner takes house 7 (0.5 more vs 0.06)
            assert choice[0].tolist() == [7, 1]
        else:
            assert choice[0, 1] == 1 and choice[0, 0] in (3, 7)


def test_every_fire_ceiling_is_above_one_all_work_partner():
    from bench_bucket_brigade_planner import EVERY_FIRE, play_seat

    mates = ["coordinator"] * 3
    ceiling, partner, idle = (play_seat(p, "default", mates, 2000, 3) for p in (EVERY_FIRE, "all_work", "always_rest"))
    assert idle.mean() + 30 < partner.mean() < ceiling.mean()
