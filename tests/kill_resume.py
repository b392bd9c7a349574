"""Kill a real ``evo-marl train`` process and resume it: shared by tests/test_kill_resume.py and
benchmarks/bench_kill_resume.py. A run's *outcome* is what must not depend on kills: the fitness history,
every metrics.csv row but its timings, the final population's weights and the best/ checkpoint."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
FAULTY = ROOT / "tests" / "faulty_train.py"
#: A tiny run: 3 members, 5 generations of 40 steps, checkpoints rotated (keep 2), hyperparameter mutations on.
CONFIG: dict[str, Any] = {
    "seed": 3, "algo": "MATD3", "population_size": 3, "env": {"id": "tiny/coop_box", "num_envs": 2},
    "net_config": {"hidden_size": [16]}, "init_hp": {"BATCH_SIZE": 16, "LEARN_STEP": 4},
    "hp_ranges": {"batch_size": {"min": 8, "max": 64, "dtype": "int"},
                  "lr_actor": {"min": 1.0e-4, "max": 1.0e-2, "scale": "log"}},
    "training": {"max_steps": 200, "evo_steps": 40, "eval_loop": 2, "learning_delay": 16, "memory_size": 1000},
    "output": {"plots": False, "keep_checkpoints": 2},
}
ROW_FIELDS = ("generation", "index", "parent", "mutation", "fitness", "steps", "train_score", "failed",
              "architecture", "hyperparameters", "eval_metrics", "losses", "eval_return")


def write_config(folder: Path, **training: Any) -> Path:
    data = {**CONFIG, "training": {**CONFIG["training"], **training}}
    path = folder / "kill.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def command(config: Path, run_dir: Path, *faults: str, resume: bool = False) -> list[str]:
    args = ["train", str(config), "--quiet", "--run-dir", str(run_dir)] + (["--resume"] if resume else [])
    return [sys.executable, str(FAULTY), *faults, "--", *args]


def run(config: Path, run_dir: Path, *faults: str, resume: bool = False, kill_after_s: float | None = None,
        timeout: float = 600) -> int:
    """Run ``evo-marl train`` in a subprocess (faults injected); ``kill_after_s``: SIGKILL it from outside then.
    Returns the exit status (``-9`` when killed)."""
    env = dict(os.environ, PYTHONHASHSEED="0", WANDB_MODE="offline", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(command(config, run_dir, *faults, resume=resume), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if kill_after_s is not None:
            try:
                proc.wait(timeout=kill_after_s)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"evo-marl train exited with {proc.returncode}:\n{err[-3000:]}")
    return proc.returncode


def resume_until_done(config: Path, run_dir: Path, limit: int = 10) -> int:
    """Resume until a run exits normally; returns the number of resumes."""
    for n in range(1, limit + 1):
        if run(config, run_dir, resume=True) == 0:
            return n
    raise AssertionError(f"{run_dir}: not finished after {limit} resumes")


def unloadable_generations(run_dir: Path) -> list[str]:
    """Generation folders (and best/) that exist but cannot be loaded: a kill must never leave one."""
    from evo_marl.run_folder import BEST_DIR, generation_dirs
    from evo_marl.training.checkpoint import load_population

    bad = []
    for folder in generation_dirs(run_dir) + ([run_dir / BEST_DIR] if (run_dir / BEST_DIR).exists() else []):
        try:
            load_population(folder)
        except Exception as err:  # noqa: BLE001 - any failure counts
            bad.append(f"{folder.name}: {type(err).__name__}: {err}")
    return bad


def _rows(path: Path) -> list[tuple]:
    with open(path, newline="") as f:
        return [tuple(row[k] for k in ROW_FIELDS) for row in csv.DictReader(f)]


def _tensors(state: Any) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for key in sorted(state, key=str) for t in _tensors(state[key])]
    if isinstance(state, (list, tuple)):
        return [t for item in state for t in _tensors(item)]
    return []


def outcome(run_dir: Path) -> dict[str, Any]:
    """What a kill must not change: history, metric rows, final and best weights, leftovers."""
    from evo_marl.run_folder import latest_complete_generation, read_manifest
    from evo_marl.training.checkpoint import load_population

    latest = latest_complete_generation(run_dir)
    manifest = read_manifest(latest)
    weights = [t.clone() for m in load_population(latest) for t in _tensors(m.state_dict()["networks"])]
    best = load_population(run_dir, best=True)[0]
    return {"history": manifest["history"], "generation": latest.name, "rows": _rows(run_dir / "metrics.csv"),
            "generations_rows": len(_rows_generic(run_dir / "generations.csv")),
            "weights": weights, "best": read_manifest(run_dir / "best")["best"],
            "best_weights": _tensors(best.state_dict()["networks"]),
            "leftovers": sorted(p.name for p in run_dir.iterdir() if p.name.startswith("."))}


def _rows_generic(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))[1:]


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Where two outcomes differ (empty: identical)."""
    diffs = [k for k in ("history", "generation", "rows", "generations_rows", "best", "leftovers") if a[k] != b[k]]
    for key in ("weights", "best_weights"):
        if len(a[key]) != len(b[key]) or not all(torch.equal(x, y) for x, y in zip(a[key], b[key])):
            diffs.append(key)
    return diffs


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def finite(values: list[list[float]]) -> bool:
    return all(math.isfinite(v) for row in values for v in row)
