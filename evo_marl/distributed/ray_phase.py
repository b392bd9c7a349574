"""The Ray backend's phase: the driver's side of one generation spread over Ray actors.

:class:`RayPhase` is called by the ordinary :class:`~evo_marl.training.runner.EvolutionRunner` exactly like
the local phases, so selection, mutation, fitness, writers, stopping criteria and checkpoints stay in the
driver, unchanged. Per generation it

1. sends each worker the state dicts of its slice of members (slot ``k`` always lives on the same worker;
   a member that selection moved to another slot travels as a state dict);
2. lets every worker train and evaluate its slice (:class:`~.worker.PopulationWorker`, the local phase code);
3. loads the returned states into the driver's members, and (off-policy) appends every worker's new
   transitions, in worker order, to the driver's copy of the shared replay buffer; the same rows reach every
   worker at the start of the next generation (see :mod:`.worker`).

A worker that dies is restarted from the last generation (members, replay buffer and RNG state as that
generation left them) and reruns the generation, up to ``max_retries`` times; after that its members are
ranked last for the generation and the run goes on (the worker is restarted for the next one).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

import numpy as np
import torch

from evo_marl.buffers.replay import MultiAgentReplayBuffer
from evo_marl.distributed.backend import RayBackend, WorkerError
from evo_marl.distributed.cluster import import_ray, init_ray
from evo_marl.distributed.worker import PopulationWorker
from evo_marl.envs.vector import VectorEnv
from evo_marl.errors import ConfigError
from evo_marl.seeding import child_rng, derived_seed
from evo_marl.training.collect import PhaseResult
from evo_marl.training.evaluation import MemberEvaluation
from evo_marl.training.phases import build_phase
from evo_marl.training.settings import RunSettings

logger = logging.getLogger(__name__)
PHASE_KEYS = ("acting", "env", "buffer", "learning", "evaluation")


def partition(population_size: int, num_workers: int) -> list[range]:
    """Contiguous slots per worker, sizes differing by at most one."""
    bounds = [w * population_size // num_workers for w in range(num_workers + 1)]
    return [range(bounds[w], bounds[w + 1]) for w in range(num_workers)]


def worker_entropy(entropy: int, worker: int) -> int:
    """The collection streams of worker ``worker``: worker 0 uses the run's own (so one worker repeats the
    local backend exactly), the others stream ``(8, worker)`` of the root entropy."""
    return entropy if worker == 0 else derived_seed(entropy, 8, worker)


def nbytes(obj: Any) -> int:
    """Bytes of the tensors and arrays in a nested structure (what a transfer moves, without pickle framing)."""
    if isinstance(obj, torch.Tensor):
        return obj.element_size() * obj.nelement()
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v) for v in obj)
    return 0


class RayPhase:
    """Runs each generation's collect-learn-evaluate phase on Ray actors (see the module docstring).

    Args:
        backend: the :class:`RayBackend` settings. env: an env of the population's kind (workers spawn theirs
            from it; it must pickle). population: the run's members. memory: the driver's shared replay buffer
            (off-policy; checkpoints save it). settings: the run's settings. entropy: the run's root entropy.
    """

    state_optional = True  # a checkpoint of the local backend resumes on Ray (not exactly: see load_state_dict)

    def __init__(self, backend: RayBackend, env: VectorEnv, population: list, memory, settings: RunSettings,
                 entropy: int):
        if backend.num_workers > len(population):
            raise ConfigError("ray.num_workers", backend.num_workers,
                              f"must be <= the population size ({len(population)}): every worker owns a member")
        if memory is not None and not isinstance(memory, MultiAgentReplayBuffer):
            raise ConfigError("memory", type(memory).__name__, "must be a MultiAgentReplayBuffer for the Ray backend")
        build_phase(population, env, memory, settings, entropy)  # the local backend's checks, before any worker
        self.num_envs = population[0].num_envs
        self.slots = partition(len(population), backend.num_workers)
        rows = max(map(len, self.slots)) * -(-settings.evo_steps // self.num_envs) * self.num_envs
        if memory is not None and rows > memory.memory_size:
            raise ConfigError("memory.memory_size", memory.memory_size, f"must hold the transitions one Ray worker "
                              f"collects in a generation ({rows}), so that every replica keeps them")
        self.ray = import_ray()
        self.backend, self.env, self.memory, self.settings, self.entropy = backend, env, memory, settings, entropy
        self.net_config, self.device = population[0].net_config, str(population[0].device)
        self.workers: list[Any] = [None] * backend.num_workers
        self.pids: list[int | None] = [None] * backend.num_workers
        self.buffer_rngs: list[dict | None] = [None] * backend.num_workers
        self.env_states: list[list | None] = [None] * backend.num_workers  # each worker's [env, eval env] state
        self.blocks: list[Any] | None = None  # the last generation's rows of each worker (object refs)
        self.restarts = 0
        self.stats: list[dict[str, float]] = []  # per generation: seconds and bytes of the distribution
        self._name = f"evo-marl-worker-{uuid.uuid4().hex[:8]}"
        self._started_ray = False
        self._env_ref = None

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """The worker count, each worker's replay-sampling RNG state and env state (the manifest's
        ``components.ray``)."""
        self._default_rngs()
        return {"backend": "ray", "num_workers": len(self.workers), "buffer_rngs": list(self.buffer_rngs),
                "env_states": list(self.env_states)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("num_workers")
        if saved != len(self.workers):
            logger.warning("resuming with %d Ray workers from a checkpoint written by %s: the run goes on, but "
                           "it does not repeat an uninterrupted run", len(self.workers), saved)
            return
        self.buffer_rngs = list(state["buffer_rngs"])
        self.env_states = list(state.get("env_states") or [None] * len(self.workers))

    def _default_rngs(self) -> None:
        """Worker 0 samples with the driver buffer's RNG (as the local backend), worker w with stream (5, w)."""
        if self.memory is None:
            return
        for w, state in enumerate(self.buffer_rngs):
            if state is None:
                rng = self.memory.rng if w == 0 else child_rng(self.entropy, 5, w)
                self.buffer_rngs[w] = rng.bit_generator.state

    # ------------------------------------------------------------------ workers
    def _start(self, workers: list[int]) -> None:
        """Start (or restart) ``workers`` from the driver's state: the last generation's replay buffer."""
        ray, b = self.ray, self.backend
        if not ray.is_initialized():
            init_ray(b.address, **b.init_kwargs)
            self._started_ray = True
        if self._env_ref is None:
            try:
                self._env_ref = ray.put(self.env)
            except Exception as err:
                raise ConfigError("env", type(self.env).__name__, f"must pickle (cloudpickle) to reach the Ray "
                                  f"workers ({type(err).__name__}: {err})") from err
        self._default_rngs()
        buffer_ref = ray.put(self.memory.state_dict()) if self.memory is not None else None
        actor = ray.remote(num_cpus=b.cpus_per_worker, max_restarts=0)(PopulationWorker)
        for w in workers:
            self._kill(w)
            self.workers[w] = actor.options(name=f"{self._name}-{w}").remote(
                self._env_ref, self.settings, self.entropy, worker_entropy(self.entropy, w), len(self.slots[w]),
                self.num_envs, self.net_config, self.device, buffer_ref, self.buffer_rngs[w],
                max(1, int(b.cpus_per_worker)), self.env_states[w])
        try:
            pids = ray.get([self.workers[w].ready.remote() for w in workers], timeout=b.startup_timeout)
        except ray.exceptions.GetTimeoutError as err:
            raise WorkerError(f"ray.num_workers={b.num_workers}: the workers did not start within "
                              f"ray.startup_timeout={b.startup_timeout:g} s; the cluster has "
                              f"{ray.cluster_resources().get('CPU', 0):g} CPUs and each worker needs "
                              f"ray.cpus_per_worker={b.cpus_per_worker:g}") from err
        except ray.exceptions.RayTaskError as err:
            raise err.as_instanceof_cause() from None
        for w, pid in zip(workers, pids):
            self.pids[w] = pid
        logger.info("Ray backend: worker(s) %s started (members %s) on a cluster with %g CPUs", workers,
                    [list(self.slots[w]) for w in workers], ray.cluster_resources().get("CPU", 0))

    def close(self) -> None:
        """Stop the workers (and the Ray instance this phase started)."""
        if not self.ray.is_initialized():
            return
        for w in range(len(self.workers)):
            self._kill(w)
        if self._started_ray:
            self.ray.shutdown()
            self._started_ray = False

    def _kill(self, w: int) -> None:
        if self.workers[w] is not None:
            try:
                self.ray.kill(self.workers[w], no_restart=True)
            except Exception as err:  # already gone
                logger.debug("killing Ray worker %d: %s", w, err)
            self.workers[w] = None

    def _submit(self, w: int, generation: int, states: list[dict], population: list, sync: bool):
        slots = self.slots[w]
        blocks = self.blocks if sync and self.blocks is not None else []
        return self.workers[w].run_generation.options(num_returns=2).remote(
            generation, [states[k] for k in slots], [bool(population[k].failed) for k in slots], sync, *blocks)

    def _lost(self, err: Exception) -> bool:
        exc = self.ray.exceptions
        if isinstance(err, exc.RayTaskError):
            return False
        return isinstance(err, (exc.RayActorError, exc.WorkerCrashedError, exc.ObjectLostError))

    def _gather(self, w: int, refs, generation: int, states: list[dict], population: list):
        """Worker ``w``'s ``(report, block)``, restarting and rerunning a lost worker; None when it stays lost."""
        for attempt in range(self.backend.max_retries + 1):
            try:
                return tuple(self.ray.get(list(refs)))
            except Exception as err:
                if not self._lost(err):
                    if isinstance(err, self.ray.exceptions.RayTaskError):
                        raise err.as_instanceof_cause() from None
                    raise
                logger.warning("Ray worker %d (members %s) was lost in generation %d: %s", w, list(self.slots[w]),
                               generation, type(err).__name__)
                if attempt == self.backend.max_retries:
                    self._kill(w)  # restarted for the next generation
                    return None
            self.restarts += 1
            self._start([w])  # from the driver's state of the last generation; no rows to sync
            refs = self._submit(w, generation, states, population, sync=False)
        return None

    # ------------------------------------------------------------------ one generation
    def __call__(self, population: list, generation: int) -> PhaseResult:
        t0 = time.perf_counter()
        fresh = [w for w, handle in enumerate(self.workers) if handle is None]
        if fresh:
            self._start(fresh)
        states = [m.state_dict() for m in population]
        refs = [self._submit(w, generation, states, population, sync=w not in fresh)
                for w in range(len(self.workers))]
        reports: list[dict | None] = []
        blocks: list[Any] = []
        for w in range(len(self.workers)):
            got = self._gather(w, refs[w], generation, states, population)
            reports.append(got[0] if got else None)
            blocks.append(got[1] if got else None)
        if all(r is None for r in reports):
            raise WorkerError(f"generation {generation}: every Ray worker was lost "
                              f"(ray.max_retries={self.backend.max_retries})")
        for w, report in enumerate(reports):
            if report:
                self.env_states[w] = report["env_state"]
        t_sync = time.perf_counter()
        rows = self._share_rows(reports, [block if block is not None else {} for block in blocks])
        sync_time = time.perf_counter() - t_sync
        result = self._merge(population, reports, generation)
        wall = time.perf_counter() - t0
        slowest = max((r for r in reports if r), key=lambda r: r["timings"]["compute"])
        replay = sync_time + max(r["timings"]["replay_sync"] for r in reports if r)
        result.timings["replay_sync"] = replay
        result.timings["ray"] = max(0.0, wall - slowest["timings"]["compute"] - replay)
        live = [r for r in reports if r]
        self.stats.append({"generation": generation, "wall": wall, "compute": slowest["timings"]["compute"],
                           "worker_compute": [r["timings"]["compute"] for r in live],
                           "worker_cpu": [r["timings"]["compute_cpu"] for r in live],
                           "ray": result.timings["ray"], "replay_sync": replay,
                           "member_bytes": 2 * nbytes(states), "replay_bytes": rows,
                           "replay_bytes_moved": rows * len(self.workers), "restarts": self.restarts})
        logger.debug("ray generation %d: %s", generation, self.stats[-1])
        return result

    def _share_rows(self, reports: list, blocks: list) -> int:
        """Append every worker's new rows (worker order) to the driver's buffer and put them in the object
        store for the next generation (owned by the driver: they outlive a lost worker); returns their bytes."""
        if self.memory is None:
            self.blocks = None
            return 0
        for block in blocks:
            if block:
                self.memory.save_to_memory(**block, is_vectorised=True)
        for w, report in enumerate(reports):
            if report:
                self.buffer_rngs[w] = report["buffer_rng"]
        self.memory.rng.bit_generator.state = self.buffer_rngs[0]
        self.blocks = [self.ray.put(block) if block else {} for block in blocks]
        return nbytes(blocks)

    def _merge(self, population: list, reports: list, generation: int) -> PhaseResult:
        """Load the workers' members into the driver's population and join their results in slot order."""
        transitions, scores, losses, evaluations = 0, [], [], []
        timings = dict.fromkeys(PHASE_KEYS, 0.0)
        slowest = max((r for r in reports if r), key=lambda r: r["timings"]["compute"])
        for key in PHASE_KEYS:
            timings[key] = slowest["result"].timings.get(key, 0.0)
        vector_steps = -(-self.settings.evo_steps // self.num_envs)
        for w, report in enumerate(reports):
            slots = self.slots[w]
            if report is None:  # lost: the generation's work of these members is lost; they rank last
                for k in slots:
                    member = population[k]
                    member.failed = True
                    member.steps[-1] += vector_steps * self.num_envs
                    member.fitness.append(math.nan)
                scores += [math.nan] * len(slots)
                losses += [{} for _ in slots]
                evaluations += [MemberEvaluation(math.nan, {}, np.array([])) for _ in slots]
                continue
            for k, state, flag in zip(slots, report["states"], report["failed"]):
                population[k].load_state_dict(state)
                population[k].failed = flag
            result = report["result"]
            transitions += result.transitions
            scores += result.train_scores
            losses += result.losses
            evaluations += result.evaluations
        return PhaseResult(transitions, timings, scores, losses, evaluations)
