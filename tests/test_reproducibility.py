"""Same seed -> same run; save -> load -> continue equals an uninterrupted run."""

from __future__ import annotations

import numpy as np
import torch

from evo_marl import train_multi_agent_off_policy
from evo_marl.training.checkpoint import generation_dirs, load_population
from conftest import make_tiny_population, run_curriculum_experiment


def _run(run_dir, max_steps, resume=False, algo="MATD3", seed=11):
    env, pop, memory, hp = make_tiny_population(algo, "coop_box", pop_size=3, num_envs=4, seed=0)
    mut_p = {"NO_MUT": 0.2, "ARCH_MUT": 0.2, "PARAMS_MUT": 0.2, "ACT_MUT": 0.2, "RL_HP_MUT": 0.2}
    return train_multi_agent_off_policy(
        env, "tiny", algo, pop, memory, INIT_HP=hp, MUT_P=mut_p, max_steps=max_steps, evo_steps=200,
        eval_loop=4, learning_delay=64, seed=seed, run_dir=run_dir, resume=resume, verbose=False)


def _weights(pop):
    return [{k: v.clone() for net in m.networks.values() for k, v in net.state_dict().items()} for m in pop]


def test_same_seed_gives_identical_history_and_weights(tmp_path):
    pop_a, hist_a = _run(tmp_path / "a", 600)
    pop_b, hist_b = _run(tmp_path / "b", 600)
    assert len(hist_a) == 3
    np.testing.assert_array_equal(np.array(hist_a), np.array(hist_b))
    for wa, wb in zip(_weights(pop_a), _weights(pop_b)):
        for key in wa:
            assert torch.equal(wa[key], wb[key])
    _, hist_c = _run(tmp_path / "c", 600, seed=12)
    assert not np.array_equal(np.array(hist_a), np.array(hist_c)), "another seed should give another run"


def test_resume_equals_uninterrupted_run(tmp_path):
    _, full = _run(tmp_path / "full", 800)
    _, part = _run(tmp_path / "resumed", 400)
    assert len(part) == 2
    pop_r, resumed = _run(tmp_path / "resumed", 800, resume=True)
    np.testing.assert_array_equal(np.array(full), np.array(resumed))
    pop_full = load_population(generation_dirs(tmp_path / "full")[-1])
    for wa, wb in zip(_weights(pop_full), _weights(pop_r)):
        for key in wa:
            assert torch.equal(wa[key], wb[key])
    rows = (tmp_path / "resumed" / "generations.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4, "a resumed run must not duplicate or lose metric rows"


def test_resume_continues_a_curriculum_where_it_stopped(tmp_path):
    """An env's schedule clock is part of the checkpoint: the resumed run flies the stage the uninterrupted
    one flies (here 4 aircraft from vector step 40 on; restarted, it would fly 2 again)."""
    full = run_curriculum_experiment(tmp_path, "full", 384)
    assert len(run_curriculum_experiment(tmp_path, "resumed", 256)) == 2
    resumed = run_curriculum_experiment(tmp_path, "resumed", 384, resume=True)
    assert [r["eval/num_aircraft"] for r in full] == [r["eval/num_aircraft"] for r in resumed]
    assert float(full[-1]["eval/num_aircraft"]) == 4.0
    assert [r["evo/best_fitness"] for r in full] == [r["evo/best_fitness"] for r in resumed]


def test_a_curriculum_run_is_evaluated_where_its_training_stopped(tmp_path):
    """``evaluate_run`` and ``cross_evaluate`` on the run's own env start its clock from the checkpoint: the
    run ended on the 4-aircraft stage (a fresh env would fly the first stage's 2)."""
    from evo_marl.cross_evaluation import cross_evaluate
    from evo_marl.evaluate_run import evaluate_run

    rows = run_curriculum_experiment(tmp_path, "run", 384)
    assert float(rows[-1]["eval/num_aircraft"]) == 4.0
    _, results = evaluate_run(tmp_path / "run", episodes=4)
    assert results["members"][0]["metrics"]["num_aircraft"] == 4.0
    [own] = cross_evaluate(tmp_path / "run", ["atc/mix"], episodes=4, references=False)
    assert own.metrics["num_aircraft"] == 4.0
    [first_stage] = cross_evaluate(tmp_path / "run", ["atc/mix"], episodes=4, references=False,
                                   env_kwargs={"schedule_at": 0})  # other options: a fresh clock
    assert first_stage.metrics["num_aircraft"] == 2.0


def test_a_damaged_env_state_in_a_checkpoint_is_named(tmp_path):
    import json

    import pytest

    from evo_marl.errors import CheckpointError

    run_curriculum_experiment(tmp_path, "run", 128)
    manifest_path = generation_dirs(tmp_path / "run")[-1] / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["components"]["env"]["envs"] == [{"step_count": 32}, {}]  # the training env's; the evaluation env's
    manifest["components"]["env"] = {"envs": [{"step_count": 32}]}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="components.env="):
        run_curriculum_experiment(tmp_path, "run", 256, resume=True)
