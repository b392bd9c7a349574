"""The Ray backend end to end on a local Ray instance (``ray.init(num_cpus=2)``).

Marked ``ray`` (deselected by default, run by ``make test-ray`` and ``.ci/run``) and skipped without Ray
(``pip install 'evo-marl[ray]'``). Runs are cached per module: each costs seconds of actor start-up.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import evo_marl
from evo_marl import train_multi_agent_off_policy
from evo_marl.distributed import RayBackend
from evo_marl.training.checkpoint import generation_dirs
from conftest import make_tiny_population, run_curriculum_experiment

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray
MUT_P = {"NO_MUT": 0.2, "ARCH_MUT": 0.2, "PARAMS_MUT": 0.2, "ACT_MUT": 0.2, "RL_HP_MUT": 0.2}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module; its workers import this checkout of evo_marl. With
    ``RAY_ADDRESS`` set the tests use that running instance instead (``ray start --head --num-cpus 2``)."""
    from evo_marl.distributed.cluster import init_ray

    root = str(Path(evo_marl.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([root] + ([old] if old else []))
    if os.environ.get("RAY_ADDRESS"):
        init_ray(os.environ["RAY_ADDRESS"], log_to_driver=False)
    else:
        init_ray(num_cpus=2, log_to_driver=False)
    yield
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = old


def _run(run_dir, backend, max_steps=600, resume=False, writers=None, algo="MATD3"):
    env, pop, memory, hp = make_tiny_population(algo, "coop_box", pop_size=3, num_envs=4, seed=0)
    return train_multi_agent_off_policy(
        env, "tiny", algo, pop, memory, INIT_HP=hp, MUT_P=MUT_P, max_steps=max_steps, evo_steps=200,
        eval_loop=4, learning_delay=64, seed=11, run_dir=run_dir, resume=resume, verbose=False, backend=backend,
        writers=writers)


def _weights(pop):
    return [{f"{n}/{k}": v for n, net in m.networks.items() for k, v in net.state_dict().items()} for m in pop]


def _assert_same_members(pop_a, pop_b):
    for wa, wb in zip(_weights(pop_a), _weights(pop_b)):
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """An uninterrupted 2-worker run (600 steps per member, 3 generations)."""
    return _run(tmp_path_factory.mktemp("two") / "run", RayBackend(num_workers=2))


def test_same_seed_and_worker_count_repeat_the_history(two_workers, tmp_path):
    pop_a, hist_a = two_workers
    pop_b, hist_b = _run(tmp_path / "again", RayBackend(num_workers=2))
    assert len(hist_a) == 3 and np.isfinite(hist_a).all()
    np.testing.assert_array_equal(np.array(hist_a), np.array(hist_b))
    _assert_same_members(pop_a, pop_b)


def test_one_worker_repeats_the_local_backend(tmp_path):
    pop_local, hist_local = _run(tmp_path / "local", None)
    pop_ray, hist_ray = _run(tmp_path / "ray", RayBackend(num_workers=1))
    np.testing.assert_array_equal(np.array(hist_local), np.array(hist_ray))
    _assert_same_members(pop_local, pop_ray)
    assert (tmp_path / "ray" / "generation_00003" / "buffer.pt").exists()


def test_a_yaml_experiment_on_one_worker_repeats_the_local_one_with_the_same_outputs(tmp_path):
    """training.backend: ray from a config (IPPO, on-policy): same history as the local backend, and the
    driver writes the same CSV rows, TensorBoard events and checkpoints."""
    pytest.importorskip("tensorboard")
    from evo_marl.config import load_config
    from evo_marl.experiment import run_experiment

    def run(name, backend):
        config = load_config({
            "name": name, "seed": 5, "algo": "IPPO", "population_size": 2, "env": {"id": "tiny/coop_box", "num_envs": 4},
            "net_config": {"hidden_size": [16]}, "init_hp": {"LEARN_STEP": 64},
            "training": {"max_steps": 256, "evo_steps": 128, "eval_loop": 2, "backend": backend},
            "ray": {"num_workers": 1}, "output": {"root": str(tmp_path), "plots": False},
            "tracking": {"tensorboard": True}})
        _, history, run_dir = run_experiment(config, verbose=False)
        return history, run_dir

    hist_local, dir_local = run("local", "local")
    hist_ray, dir_ray = run("ray", "ray")
    np.testing.assert_array_equal(np.array(hist_local), np.array(hist_ray))
    fitness = []
    for run_dir in (dir_local, dir_ray):
        with open(run_dir / "metrics.csv", newline="") as f:
            fitness.append([(row["generation"], row["index"], row["fitness"]) for row in csv.DictReader(f)])
    assert fitness[0] == fitness[1] and len(fitness[0]) == 2 * 2
    assert list((dir_ray / "tensorboard").glob("events.out.tfevents.*"))
    assert [p.name for p in generation_dirs(dir_ray)] == [p.name for p in generation_dirs(dir_local)]


def test_resume_equals_an_uninterrupted_run(two_workers, tmp_path):
    pop_full, full = two_workers
    _, part = _run(tmp_path / "resumed", RayBackend(num_workers=2), max_steps=400)
    assert len(part) == 2
    manifest = json.loads((generation_dirs(tmp_path / "resumed")[-1] / "manifest.json").read_text())
    ray_state = manifest["components"]["ray"]
    assert ray_state["num_workers"] == 2 and len(ray_state["buffer_rngs"]) == 2
    pop_resumed, resumed = _run(tmp_path / "resumed", RayBackend(num_workers=2), resume=True)
    np.testing.assert_array_equal(np.array(full), np.array(resumed))
    _assert_same_members(pop_full, pop_resumed)
    rows = (tmp_path / "resumed" / "generations.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3 and "time/ray" in rows[0] and "time/replay_sync" in rows[0]


def test_resume_continues_each_workers_curriculum(tmp_path):
    """Each worker's env clock is in components.ray: a resumed Ray run flies the stage an uninterrupted one does."""
    full = run_curriculum_experiment(tmp_path, "full", 384, backend="ray")
    assert len(run_curriculum_experiment(tmp_path, "resumed", 256, backend="ray")) == 2
    manifest = json.loads((generation_dirs(tmp_path / "resumed")[-1] / "manifest.json").read_text())
    assert [train for train, _ in manifest["components"]["ray"]["env_states"]] == [{"step_count": 64}] * 2
    resumed = run_curriculum_experiment(tmp_path, "resumed", 384, resume=True, backend="ray")
    assert [r["eval/num_aircraft"] for r in full] == [r["eval/num_aircraft"] for r in resumed]
    assert float(full[-1]["eval/num_aircraft"]) == 4.0
    assert [r["evo/best_fitness"] for r in full] == [r["evo/best_fitness"] for r in resumed]


def test_stopping_criteria_run_on_the_driver(tmp_path):
    env, pop, memory, hp = make_tiny_population("MATD3", "coop_box", pop_size=2, num_envs=4, seed=0)
    _, history = train_multi_agent_off_policy(
        env, "tiny", "MATD3", pop, memory, INIT_HP=hp, max_steps=600, evo_steps=200, eval_loop=2,
        learning_delay=64, seed=3, run_dir=tmp_path, verbose=False, target=-1e9, backend=RayBackend(num_workers=2))
    assert len(history) == 1
    manifest = json.loads((generation_dirs(tmp_path)[-1] / "manifest.json").read_text())
    assert manifest["stop_reason"] == "target"


def _worker(w: int):
    names = [n for n in ray.util.list_named_actors() if n.startswith("evo-marl-worker-") and n.endswith(f"-{w}")]
    assert len(names) == 1, names
    return ray.get_actor(names[0])


class KillWorker:
    """A metric writer that, after generation ``after``, kills worker ``w`` ``delay`` seconds later (while
    the next generation runs: SIGKILL to its process) or at once (``ray.kill``).

    On a fast machine the next generation can end before the delay is up; the writer then waits for the
    kill after that generation, so the loss is met (and rerun) in the one after it, never after the run."""

    def __init__(self, after: int, w: int, delay: float | None):
        self.after, self.w, self.delay, self.killed = after, w, delay, threading.Event()
        self.timer: threading.Timer | None = None

    def write_generation(self, record) -> None:
        if record.generation == self.after + 1 and self.timer is not None:
            self.timer.join()
        if record.generation != self.after:
            return
        handle = _worker(self.w)
        if self.delay is None:
            ray.kill(handle, no_restart=True)
            self.killed.set()
            return
        pid = ray.get(handle.ready.remote())

        def kill():
            os.kill(pid, signal.SIGKILL)
            self.killed.set()

        self.timer = threading.Timer(self.delay, kill)
        self.timer.start()

    def close(self) -> None:
        pass


def test_a_worker_killed_mid_generation_is_restarted_and_the_history_is_unchanged(two_workers, tmp_path, caplog):
    pop_full, full = two_workers
    killer = KillWorker(after=1, w=1, delay=0.5)
    with caplog.at_level(logging.WARNING, logger="evo_marl.distributed.ray_phase"):
        pop, history = _run(tmp_path / "killed", RayBackend(num_workers=2), writers=[killer])
    assert killer.killed.is_set()
    assert any("Ray worker 1 (members [1, 2]) was lost" in r.message for r in caplog.records)
    np.testing.assert_array_equal(np.array(full), np.array(history))
    _assert_same_members(pop_full, pop)


def test_a_worker_lost_beyond_its_retries_ranks_its_members_last_and_the_run_goes_on(tmp_path, caplog):
    killer = KillWorker(after=1, w=1, delay=None)
    with caplog.at_level(logging.WARNING, logger="evo_marl.distributed.ray_phase"):
        _, history = _run(tmp_path / "lost", RayBackend(num_workers=2, max_retries=0), writers=[killer])
    assert killer.killed.is_set() and len(history) == 3
    assert np.isnan(history[1][1:]).all() and math.isfinite(history[1][0]), "worker 1 holds members 1 and 2"
    assert np.isfinite(history[0]).all() and np.isfinite(history[2]).all(), "the worker is back in generation 3"
    with open(tmp_path / "lost" / "metrics.csv", newline="") as f:
        failed = [row["failed"] for row in csv.DictReader(f) if row["generation"] == "2"]
    assert failed == ["False", "True", "True"]
