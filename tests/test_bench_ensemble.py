"""The ensemble benchmark's actors: best member, k fittest, every member and snapshot ensembles of kept generations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evo_marl.config import load_config
from evo_marl.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_ensemble  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    config = load_config({
        "name": "snap", "algo": "IPPO", "population_size": 2, "seed": 0,
        "env": {"id": "atc/random", "num_envs": 4, "kwargs": {"num_aircraft": [2, 3]}},
        "net_config": {"hidden_size": [16]}, "init_hp": {"LEARN_STEP": 64, "BATCH_SIZE": 32, "SHARE_PARAMS": True},
        "training": {"max_steps": 192, "evo_steps": 64, "eval_loop": 2},
        "output": {"root": str(tmp_path_factory.mktemp("runs")), "plots": False}})
    run_experiment(config, verbose=False)
    return config.run_dir


def test_snapshot_ensembles_act_with_the_kept_generations(run_dir, tmp_path, capsys):
    out = tmp_path / "ensemble.md"
    assert bench_ensemble.main([str(run_dir), "--counts", "2", "--episodes", "3", "--sizes", "1", "all", "g2",
                                "g3", "--reset-seed", "30000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "all: LoS risk" in printed and "ensemble of 2 (" in printed
    assert "g2: LoS risk" in printed and "ensemble of 4 (" in printed   # two generations of two members
    assert "g3: LoS risk" in printed and "ensemble of 6 (" in printed
    text = out.read_text()
    assert "| best member | every member | last 2 generations | last 3 generations |" in text
    assert "Validation `atc/random` episodes (3 per aircraft count, reset seed 30000 + count)" in text


def test_sizes_are_checked(run_dir):
    with pytest.raises(SystemExit):
        bench_ensemble.main([str(run_dir), "--sizes", "gx"])
    with pytest.raises(SystemExit):
        bench_ensemble.main([str(run_dir), "--sizes", "0"])
