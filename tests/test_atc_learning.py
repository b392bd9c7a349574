"""Learning evidence on ATC (slow: a few minutes on 2 CPU cores): MATD3 populations solve head_on and
t_formation.

Solved: the best member, acting without exploration noise, flies every aircraft to its waypoint with no
loss of separation and a high team return: above 15 on head_on (optimum about 24; straight flight -33.55)
within 50k env steps per member; at least 90 % of the optimum of about 34 on t_formation within 80k (the
recipe solved seeds 0-2 at 40k-50k, benchmarks/results/atc_recipes_matd3.md; without its action penalty
it circled and never solved). Run with ``pytest -m slow tests/test_atc_learning.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evo_marl.config import load_config
from evo_marl.envs import make_vec_env
from evo_marl.experiment import run_experiment
from evo_marl.hpo import best_member
from evo_marl.training.evaluation import evaluate_population

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.slow
def test_matd3_population_solves_head_on(tmp_path):
    config = load_config(CONFIGS / "atc_head_on_matd3.yaml", [
        f"output.root={tmp_path}", "output.checkpoint=false", "output.plots=false", "training.max_steps=50000"])
    population, history, run_dir = run_experiment(config, verbose=False)

    member = best_member(population)
    assert member.steps[-1] <= 50_000
    env = make_vec_env("atc/head_on", num_envs=4, seed=7)
    evaluation = evaluate_population([member], env, seed=7)[0]
    metrics = evaluation.metrics
    assert metrics["los_events"] == 0, metrics
    assert metrics["waypoint_fraction"] == 1.0, metrics
    assert evaluation.fitness > 15.0, (evaluation.fitness, history)
    assert (run_dir / "metrics.csv").exists()


@pytest.mark.slow
def test_matd3_recipe_solves_t_formation(tmp_path):
    config = load_config(CONFIGS / "atc_matd3.yaml", [
        "env.id=atc/t_formation", f"output.root={tmp_path}", "output.checkpoint=false", "output.plots=false",
        "training.max_steps=80000"])
    population, history, _ = run_experiment(config, verbose=False)

    member = best_member(population)
    evaluation = evaluate_population([member], make_vec_env("atc/t_formation", num_envs=2, seed=7), seed=7)[0]
    assert evaluation.metrics["los_events"] == 0, evaluation.metrics
    assert evaluation.metrics["waypoint_fraction"] == 1.0, evaluation.metrics
    assert evaluation.fitness >= 0.9 * 34.0, (evaluation.fitness, history)
