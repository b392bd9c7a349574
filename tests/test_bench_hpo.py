"""The HPO efficacy benchmark harness on the tiny env: equal budgets, solve detection, resumable cells, report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from evo_marl.algorithms.registry import get_algorithm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_hpo  # noqa: E402
from hpo_report import write_report  # noqa: E402
from hpo_tasks import TASKS, speaker_listener_oracle  # noqa: E402

SMALL = ("training.max_steps=640", "training.evo_steps=320", "training.eval_loop=4", "training.learning_delay=64")


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.chdir(ROOT)  # configs/ is read relative to the repository root
    return dataclasses.replace(TASKS["tiny"], overrides=SMALL, confirm_episodes=8, final_episodes=8)


def _check_curve(cell):
    steps = [p[0] for p in cell["curve"]]
    best = [p[2] for p in cell["curve"]]
    assert steps == sorted(steps) and best == sorted(best), "steps grow and best-so-far never falls"
    assert cell["total_steps"] <= cell["budget"]


@pytest.mark.parametrize("method, strategy, hp_init", [
    ("tournament", "tournament", "sampled"), ("mfpbt", "multi_frequency", "sampled"), ("random", "none", "sampled"),
    ("default", "none", "fixed"), ("optuna", "none", "fixed")])
def test_each_method_is_a_config_of_the_same_task(tiny, tmp_path, method, strategy, hp_init):
    config = bench_hpo.cell_config(tiny, method, 3, tmp_path, 6)
    assert (config.selection.strategy, config.hp_init, config.seed) == (strategy, hp_init, 3)
    assert config.population_size * config.training.max_steps == 6 * 640, "the same budget for every method"
    assert not config.training.stopping.criteria and config.training.stopping.target is None


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_method_builds_a_config_for_every_task(tmp_path, monkeypatch, task):
    monkeypatch.chdir(ROOT)
    for method in bench_hpo.METHODS:  # the shipped configs must accept every method's overrides
        config = bench_hpo.cell_config(TASKS[task], method, 0, tmp_path, 8)
        assert config.selection.strategy == dict(o.split("=") for o in bench_hpo.METHOD_OVERRIDES[method]
                                                 )["selection.strategy"]


def test_population_cell_spends_the_budget_and_is_cached(tiny, tmp_path, monkeypatch):
    cell = bench_hpo.run_cell(tiny, "mfpbt", 0, tmp_path, 6)
    assert cell["budget"] == 6 * 640 and cell["population"] == 6 and cell["solve"] is None
    assert cell["total_steps"] == cell["budget"] and len(cell["curve"]) == 2
    _check_curve(cell)
    assert math.isfinite(cell["final"]["score"]) and cell["final"]["episodes"] == 8
    default = bench_hpo.cell_config(tiny, "default", 0, tmp_path, 6).hyperparameters()[0].to_dict()
    assert cell["final"]["hyperparameters"] != default, "hyperparameters drawn from the search space"
    monkeypatch.setattr(bench_hpo, "run_population_cell", lambda *a: pytest.fail("a finished cell ran again"))
    assert bench_hpo.run_cell(tiny, "mfpbt", 0, tmp_path, 6) == json.loads(
        bench_hpo.cell_path(tmp_path, "tiny", "mfpbt", 0).read_text())


def test_first_confirmed_pass_stops_the_cell(tiny, tmp_path):
    easy = dataclasses.replace(tiny, threshold=-1e9)  # every evaluation passes
    cell = bench_hpo.run_cell(easy, "tournament", 0, tmp_path, 6)
    assert cell["solve"][0] == 6 * 320 == cell["total_steps"], "solved at the first generation, then stopped"
    assert cell["final"]["passes"]


def test_a_claimed_cell_is_left_to_its_owner(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_hpo, "run_population_cell", lambda *a: {"ran": True})
    lock = bench_hpo.cell_path(tmp_path, "tiny", "random", 0).with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    lock.write_text("1")  # pid 1 is alive
    assert bench_hpo.run_cell(tiny, "random", 0, tmp_path, 6) is None
    lock.write_text("999999999")  # a dead owner: the claim is taken over
    assert bench_hpo.run_cell(tiny, "random", 0, tmp_path, 6)["ran"] and not lock.exists()


def test_optuna_cell_splits_the_budget_into_trials_and_the_report_compares(tiny, tmp_path, monkeypatch):
    optuna = pytest.importorskip("optuna")
    cell = bench_hpo.run_cell(tiny, "optuna", 0, tmp_path, 6)
    trials = cell["trials"]
    assert cell["budget"] == 3840 and sum(t["steps"] for t in trials) == cell["total_steps"] <= 3840
    assert len(trials) >= 6 and all(t["steps"] <= 640 for t in trials)
    _check_curve(cell)
    space = bench_hpo.search_space(bench_hpo.cell_config(tiny, "optuna", 0, tmp_path, 1))
    assert all(space[name].min <= value <= space[name].max for t in trials for name, value in t["params"].items())
    trial = optuna.create_study().ask()
    values = bench_hpo.suggest(trial, space)
    assert trial.distributions["lr_actor"].log, "learning rates on a log scale"
    assert all(trial.distributions[n].log == (space[n].scale == "log") for n in space if space[n].scale != "horizon")
    assert values["gamma"] == pytest.approx(1 - 1 / trial.params["gamma_horizon"]), "gamma searched on its horizon"
    def stub(task, method, *args):  # population cells with known outcomes
        solve = [1920, 2.0] if method == "tournament" else None
        return {"budget": 3840, "population": 6, "curve": [[1920, 2.0, -0.5 if solve else -5.0]], "solve": solve,
                "total_steps": 1920 if solve else 3840, "wall": 2.0, "final": {"score": -0.5 if solve else -5.0}}

    monkeypatch.setattr(bench_hpo, "run_population_cell", stub)
    for method in ("tournament", "random"):
        bench_hpo.run_cell(tiny, method, 0, tmp_path, 6)
    out = write_report(tmp_path, tmp_path / "hpo.md", ["tiny"], ["tournament", "random", "optuna"], [0])
    text = out.read_text()
    assert "| (a) evolution, tournament | 1/1 | 1,920 | 2k |" in text
    assert "| (c) random search | 0/1 | not solved |" in text and "| (d) Optuna TPE | 0/1 |" in text
    assert "on 1 of 1 tasks** (tiny)" in text and (tmp_path / "hpo.png").stat().st_size > 0
    partial = write_report(tmp_path, tmp_path / "partial.md", ["tiny"], ["tournament", "random"], [0]).read_text()
    assert "not decided by this run" in partial and "methods run: random, tournament" in partial


def test_scripted_speaker_listener_oracle_finds_the_goal():
    pytest.importorskip("mpe2")
    from evo_marl.envs import make_vec_env
    from evo_marl.envs.episodes import run_episodes

    env = make_vec_env("mpe2/simple_speaker_listener_v4", num_envs=50, seed=0)
    oracle = run_episodes(speaker_listener_oracle, env, seed=0).returns.mean()
    assert oracle > TASKS["mpe_speaker_listener"].threshold > -40, "the oracle passes the mpe2 threshold"


def test_range_changes_one_range_of_the_default_search_space(tiny, tmp_path, monkeypatch):
    assert bench_hpo.parse_range("action_std_init=0.25:1") == ("action_std_init", (0.25, 1.0))
    for bad in ("action_std_init", "action_std_init=1:0.25", "lr=a:b"):
        with pytest.raises(argparse.ArgumentTypeError, match="action_std_init|MIN|NAME=MIN:MAX"):
            bench_hpo.parse_range(bad)
    default = get_algorithm("MATD3").default_hp_config().to_dict()
    monkeypatch.setitem(bench_hpo.RANGES, "lr_actor", (1e-4, 1e-3))
    space = bench_hpo.cell_config(tiny, "tournament", 0, tmp_path, 4).search_space().to_dict()
    assert space["lr_actor"]["min"] == pytest.approx(1e-4) and space["lr_actor"]["max"] == pytest.approx(1e-3)
    assert {k: v for k, v in space.items() if k != "lr_actor"} == {k: v for k, v in default.items() if k != "lr_actor"}
    monkeypatch.setitem(bench_hpo.RANGES, "no_such_hp", (0.0, 1.0))
    with pytest.raises(SystemExit, match="no_such_hp"):
        bench_hpo.cell_config(tiny, "tournament", 0, tmp_path, 4)


def test_set_overrides_a_field_of_every_cell_and_is_in_the_report_command(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_hpo, "SETS", ["net_config.min_mlp_nodes=32", "training.evo_steps=500"])
    for method in ("tournament", "random"):
        config = bench_hpo.cell_config(tiny, method, 0, tmp_path, 4)
        assert config.net_config["min_mlp_nodes"] == 32 and config.training.evo_steps == 500
    out = write_report(tmp_path, tmp_path / "hpo.md", ["tiny"], ["tournament"], [0], sets=bench_hpo.SETS)
    assert "--set net_config.min_mlp_nodes=32 --set training.evo_steps=500" in out.read_text()


def test_optuna_method_without_optuna_fails_before_any_cell_runs(monkeypatch, tmp_path, capsys):
    real_find_spec = bench_hpo.importlib.util.find_spec
    monkeypatch.setattr(bench_hpo.importlib.util, "find_spec",
                        lambda name, *a: None if name == "optuna" else real_find_spec(name, *a))
    monkeypatch.setattr(bench_hpo, "run_cell", lambda *a, **k: pytest.fail("a cell ran"))
    monkeypatch.setattr(sys, "argv", ["bench_hpo.py", "--tasks", "tiny", "--methods", "random", "optuna",
                                      "--root", str(tmp_path)])
    with pytest.raises(SystemExit):
        bench_hpo.main()
    assert "pip install 'evo-marl[hpo]'" in capsys.readouterr().err


def test_cells_record_their_code_version_and_the_report_warns_when_versions_differ(tiny, tmp_path, monkeypatch):
    from results_file import code_version

    def stub(task, method, *args):
        return {"budget": 3840, "population": 6, "curve": [[3840, 2.0, -5.0]], "solve": None, "total_steps": 3840,
                "wall": 2.0, "final": {"score": -5.0}}

    monkeypatch.setattr(bench_hpo, "run_population_cell", stub)
    cell = bench_hpo.run_cell(tiny, "random", 0, tmp_path, 6)
    assert cell["code"] == code_version()
    if (ROOT / ".git").exists():
        assert cell["code"] != "unknown" and len(cell["code"].split("+")[0]) >= 7, "a commit hash"
    report = write_report(tmp_path, tmp_path / "one.md", ["tiny"], ["random"], [0]).read_text()
    assert f"Code version of every cell: {cell['code']} (1 cells)." in report

    old = dict(cell, seed=1, code="0123abc")  # a finished cell of older code, as a resumed root can hold
    (tmp_path / "cells" / "tiny__random__s1.json").write_text(json.dumps(old))
    mixed = write_report(tmp_path, tmp_path / "mixed.md", ["tiny"], ["random"], [0, 1]).read_text()
    assert "**Warning: the cells come from 2 code versions** (0123abc (1 cells)" in mixed
    assert code_version(tmp_path) == "unknown", "outside a git checkout"


def test_code_version_is_dirty_for_code_changes_but_not_for_results_files(tmp_path):
    from results_file import code_version

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "r.md").write_text("old\n")
    (tmp_path / "benchmarks" / "bench.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "c")
    where = tmp_path / "benchmarks"
    clean = code_version(where)
    assert "+" not in clean and clean != "unknown"
    (tmp_path / "benchmarks" / "results" / "r.md").write_text("a benchmark's report\n")
    assert code_version(where) == clean, "a results file a benchmark wrote is not a code change"
    (tmp_path / "benchmarks" / "bench.py").write_text("x = 2\n")
    assert code_version(where) == clean + "+dirty"
