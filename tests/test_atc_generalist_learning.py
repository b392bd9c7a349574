"""Learning evidence for the ATC generalist (slow: about 8 minutes per seed on 2 busy CPU cores; networks [256, 256]).

The recipe (configs/atc_generalist_ippo.yaml) trains on random traffic only; after 200k env steps per member
(the first curriculum stage: 2-3 aircraft, mostly without set-up conflicts; then 100k steps of 2-4 aircraft
with conflicts) its best member, acting by role without exploration, must resolve the head-on conflict it
never saw (no loss of separation, both waypoints) and keep held-out random pairs separated (LoS risk below
10 %, against 90 % flying straight), for each of two seeds. With the recipe of late 2026-12-06 (heading frame,
separation buffer, in-trail traffic) every member of seeds 0 and 1 was at 0-2 % at 200k steps (the recipe
before it: up to 26 %, when the bar was 30 %; benchmarks/results/slow_tests.md).
Run with ``pytest -m slow tests/test_atc_generalist_learning.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evo_marl.config import load_config
from evo_marl.cross_evaluation import cross_evaluate
from evo_marl.experiment import run_experiment

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_generalist_resolves_unseen_conflicts_after_200k_steps(tmp_path, seed):
    config = load_config(CONFIGS / "atc_generalist_ippo.yaml", [
        f"output.root={tmp_path}", "output.plots=false", "training.max_steps=200000", f"seed={seed}"])
    run_experiment(config, verbose=False)
    pairs = cross_evaluate(config.run_dir, ["atc/random"], episodes=200, seed=10_002,
                           env_kwargs={"num_aircraft": 2}, references=False)[0]
    head_on = cross_evaluate(config.run_dir, ["atc/head_on"], episodes=1, seed=0, references=False)[0]
    assert head_on.metrics["los_risk"] == 0.0 and head_on.metrics["waypoint_fraction"] == 1.0, head_on.metrics
    assert pairs.metrics["los_risk"] < 0.10, pairs.metrics
    assert pairs.metrics["waypoint_fraction"] > 0.9, pairs.metrics
