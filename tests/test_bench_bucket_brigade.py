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
