"""The Ray backend's parts that need no Ray: settings, partitioning, replay replicas and the worker's phase.

End-to-end runs on a local Ray instance are in ``test_ray_backend.py`` (marker ``ray``).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from evo_marl.buffers import MultiAgentReplayBuffer
from evo_marl.config import load_config
from evo_marl.distributed import RayBackend, resolve_backend
from evo_marl.distributed.backend import WorkerError
from evo_marl.distributed.cluster import import_ray, init_ray
from evo_marl.distributed.ray_phase import partition, worker_entropy
from evo_marl.distributed.worker import PopulationWorker
from evo_marl.errors import ConfigError
from evo_marl.training.settings import RunSettings
from evo_marl.training.trainer import seed_components, train_population
from conftest import make_tiny_population

AGENTS = ["a", "b"]
FIELDS = ["obs", "reward"]


def _rows(start: int, n: int) -> dict:
    t = np.arange(start, start + n, dtype=np.float32)
    return {"obs": {a: np.stack([t, t + 0.5], axis=1) for a in AGENTS}, "reward": {a: t for a in AGENTS}}


def _buffer(size: int = 10) -> MultiAgentReplayBuffer:
    return MultiAgentReplayBuffer(size, FIELDS, agent_ids=AGENTS, seed=0)


def _same(x: MultiAgentReplayBuffer, y: MultiAgentReplayBuffer) -> bool:
    sx, sy = x.state_dict(), y.state_dict()
    return (all(sx[k] == sy[k] for k in ("size", "pos", "counter"))
            and all(torch.equal(sx["data"][f][a], sy["data"][f][a]) for f in sx["data"] for a in AGENTS))


@pytest.mark.parametrize("own, other", [(3, 4), (7, 9), (10, 2)])
def test_replicas_agree_after_rewinding_their_own_rows_and_saving_everyones_in_order(own, other):
    """Two workers each add their own rows; after rewind + saving both blocks in worker order, each replica
    equals a buffer that saw the rows in that order (also when they wrap around)."""
    first, second, reference = _buffer(), _buffer(), _buffer()
    for buffer in (first, second, reference):
        buffer.save_to_memory(**_rows(100, 6), is_vectorised=True)
    marks = [first.mark(), second.mark()]
    first.save_to_memory(**_rows(0, own), is_vectorised=True)
    second.save_to_memory(**_rows(50, other), is_vectorised=True)
    blocks = [first.rows_since(marks[0]), second.rows_since(marks[1])]
    assert len(blocks[0]["reward"]["a"]) == min(own, 10)
    np.testing.assert_array_equal(blocks[1]["reward"]["b"], np.arange(50, 50 + other))
    for buffer, mark in zip((first, second), marks):
        buffer.rewind(mark)
        for block in blocks:
            buffer.save_to_memory(**block, is_vectorised=True)
    reference.save_to_memory(**_rows(0, own), is_vectorised=True)
    reference.save_to_memory(**_rows(50, other), is_vectorised=True)
    assert _same(first, reference) and _same(second, reference)


def test_rows_since_an_empty_mark_and_a_bad_rewind():
    buffer = _buffer()
    assert buffer.rows_since(buffer.mark()) == {}
    buffer.save_to_memory(**_rows(0, 3), is_vectorised=True)
    with pytest.raises(ValueError, match="rewind"):
        buffer.rewind((0, 0, 99))
    buffer.save_to_memory(**_rows(3, 11), is_vectorised=True)
    with pytest.raises(ValueError, match="more than memory_size=10"):
        buffer.rows_since((0, 0, 0))


def test_replicas_must_hold_a_workers_generation(tmp_path):
    env, pop, _, _ = make_tiny_population("MATD3", pop_size=4, num_envs=4)
    small = MultiAgentReplayBuffer(600, ["obs", "action", "reward", "next_obs", "termination", "active"],
                                   agent_ids=env.agents)
    settings = RunSettings(env_name="tiny", max_steps=800, evo_steps=400, seed=0, run_dir=tmp_path, verbose=False)
    with pytest.raises(ConfigError, match=r"memory.memory_size=600: must hold the transitions one Ray worker "
                                          r"collects in a generation \(800\)"):
        train_population(env, pop, settings, memory=small, backend=RayBackend(num_workers=2))


def test_partition_is_contiguous_and_balanced():
    assert partition(5, 2) == [range(0, 2), range(2, 5)]
    assert [len(r) for r in partition(16, 3)] == [5, 5, 6]
    assert partition(3, 3) == [range(0, 1), range(1, 2), range(2, 3)]
    assert worker_entropy(123, 0) == 123 and worker_entropy(123, 1) != worker_entropy(123, 2)


@pytest.mark.parametrize("field, value, rule", [
    ("num_workers", 0, "integer >= 1"), ("cpus_per_worker", 0, "> 0"), ("max_retries", -1, ">= 0"),
    ("startup_timeout", 0, "> 0"), ("address", "", "'auto'"), ("init_kwargs", [], "mapping"),
])
def test_ray_settings_name_the_field_value_and_rule(field, value, rule):
    with pytest.raises(ConfigError, match=rule) as err:
        RayBackend(**{field: value})
    assert err.value.field == f"ray.{field}"


def test_backend_arguments_resolve_to_settings():
    assert resolve_backend(None) is None and resolve_backend("local") is None
    assert resolve_backend("ray") == RayBackend()
    assert resolve_backend({"num_workers": 3}).num_workers == 3
    with pytest.raises(ConfigError, match="num_wrokers.*did you mean 'num_workers'"):
        resolve_backend({"num_wrokers": 3})
    with pytest.raises(ConfigError, match="must be one of"):
        resolve_backend("dask")


def test_yaml_backend_and_ray_section():
    base = {"env": {"id": "tiny/coop_box"}, "population_size": 4}
    assert load_config(base).backend is None
    config = load_config({**base, "training": {"backend": "ray"}, "ray": {"address": "auto", "num_workers": 4}})
    assert config.backend == RayBackend(address="auto", num_workers=4)
    with pytest.raises(ConfigError, match="training.backend"):
        load_config({**base, "training": {"backend": "spark"}})
    with pytest.raises(ConfigError, match=r"ray.num_workers=5: must be <= population_size \(4\)"):
        load_config({**base, "training": {"backend": "ray"}, "ray": {"num_workers": 5}})


def test_missing_ray_is_a_config_error_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"evo-marl\[ray\]"):
        import_ray()
    env, pop, memory, hp = make_tiny_population("MATD3", pop_size=2)
    settings = RunSettings(env_name="tiny", max_steps=100, evo_steps=50, seed=0, checkpoint=False, verbose=False)
    with pytest.raises(ConfigError, match=r"evo-marl\[ray\]"):
        train_population(env, pop, settings, memory=memory, backend="ray")


def test_a_local_ray_start_is_retried_and_then_reported(monkeypatch):
    """A local start that times out (ray-project/ray#65983 on a busy machine) is tried again."""
    calls = []

    class SlowRay:
        @staticmethod
        def init(**kwargs):
            calls.append(kwargs)
            if len(calls) < 3:
                raise Exception("The current node timed out during startup")

        @staticmethod
        def shutdown():
            pass

    monkeypatch.setitem(sys.modules, "ray", SlowRay)
    init_ray(num_cpus=2)
    assert calls == [{"address": "local", "include_dashboard": False, "num_cpus": 2}] * 3
    calls.clear()
    with pytest.raises(WorkerError, match="did not start in 2 attempts"):
        init_ray(attempts=2)


def test_one_worker_runs_exactly_the_local_generation(tmp_path):
    """The worker rebuilds members from their state dicts and runs the local phase and evaluation on them:
    with the whole population and the run's own streams it reproduces a local generation bit for bit."""
    settings = RunSettings(env_name="tiny", max_steps=200, evo_steps=200, eval_loop=2, learning_delay=32, seed=3,
                           run_dir=tmp_path / "local", verbose=False)
    env, local_pop, local_memory, _ = make_tiny_population("MATD3", pop_size=2, seed=1)
    env2, pop, memory, _ = make_tiny_population("MATD3", pop_size=2, seed=1)
    train_population(env, local_pop, settings, memory=local_memory)

    from evo_marl.hpo import Mutations, TournamentSelection
    from evo_marl.training.trainer import root_entropy

    entropy = root_entropy(3)
    seed_components(entropy, pop, TournamentSelection(2, True, 2), Mutations(), memory)
    worker = PopulationWorker(env2, settings, entropy, worker_entropy(entropy, 0), len(pop), pop[0].num_envs,
                              pop[0].net_config, "cpu", memory.state_dict(), None)
    report, block = worker.run_generation(1, [m.state_dict() for m in pop], [False, False], False)
    assert [e.fitness for e in report["result"].evaluations] == [m.fitness[-1] for m in local_pop]
    for state, member in zip(report["states"], local_pop):
        for name, net in member.networks.items():
            for key, value in net.state_dict().items():
                assert torch.equal(state["networks"][name][key], value)
    assert len(block["obs"]["agent_0"]) == len(local_memory) == report["result"].transitions
    assert report["buffer_rng"] == local_memory.rng.bit_generator.state
