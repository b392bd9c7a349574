"""TensorBoard writer: a short experiment's event files hold the per-generation and per-member scalars, a
resumed run never charts a generation twice, and a missing tensorboard package only warns."""

from __future__ import annotations

import logging
import sys

import pytest

from evo_marl.config import load_config
from evo_marl.experiment import optional_writers, run_experiment

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def tiny_config(tmp_path, max_steps: int = 300):
    return load_config({
        "name": "tb_run", "seed": 3, "algo": "MATD3", "population_size": 3,
        "env": {"id": "tiny/coop_box", "num_envs": 2}, "net_config": {"hidden_size": [16]},
        "init_hp": {"BATCH_SIZE": 32, "LEARN_STEP": 8},
        "training": {"max_steps": max_steps, "evo_steps": 100, "eval_loop": 2, "learning_delay": 50},
        "output": {"root": str(tmp_path), "plots": False},
        "tracking": {"tensorboard": True},
    })


def scalars(log_dir) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return acc


def test_event_files_hold_generation_and_member_scalars(tmp_path):
    config = tiny_config(tmp_path)
    pop, history, run_dir = run_experiment(config, verbose=False)
    acc = scalars(run_dir / "tensorboard")
    tags = set(acc.Tags()["scalars"])
    assert {"evo/best_fitness", "evo/mean_fitness", "train/total_steps"} <= tags
    best = acc.Scalars("evo/best_fitness")
    assert [e.step for e in best] == [1, 2, 3]
    assert [round(e.value, 4) for e in best] == [round(max(g), 4) for g in history]
    member_tags = [t for t in tags if t.startswith("member/") and t.endswith("/fitness")]
    assert len(member_tags) >= config.population_size
    assert any("/hp/lr_actor" in t for t in tags)


def test_resumed_run_charts_each_generation_once(tmp_path):
    run_experiment(tiny_config(tmp_path, max_steps=200), verbose=False)
    _, history, run_dir = run_experiment(tiny_config(tmp_path, max_steps=400), resume=True, verbose=False)
    steps = [e.step for e in scalars(run_dir / "tensorboard").Scalars("evo/best_fitness")]
    assert sorted(steps) == sorted(set(steps)) == [1, 2, 3, 4]
    assert len(history) == 4


def test_missing_tensorboard_package_warns_once_and_training_goes_on(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # "not installed"
    with caplog.at_level(logging.WARNING):
        assert optional_writers(tiny_config(tmp_path), tmp_path) == []
    warnings = [r.getMessage() for r in caplog.records if "TensorBoard logging is off" in r.getMessage()]
    assert len(warnings) == 1 and "evo-marl[tensorboard]" in warnings[0]
