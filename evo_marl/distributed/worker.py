"""One worker's share of a population: the same collection phase and evaluation as the local backend, run
on a contiguous slice of members inside a Ray actor (a plain class here; :mod:`.ray_phase` wraps it).

Members arrive and leave as ``state_dict()``s (the checkpoint format). Off-policy workers keep a replica of
the population's shared replay buffer: a generation adds the worker's own transitions as they come, and the
next generation starts by replacing them with every worker's transitions in worker order, so all replicas
(and the driver's copy, which checkpoints save) hold the same rows.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from evo_marl.buffers.replay import MultiAgentReplayBuffer
from evo_marl.envs.vector import VectorEnv
from evo_marl.training.checkpoint import member_from_state
from evo_marl.training.evaluation import evaluate_generation
from evo_marl.training.phases import build_phase
from evo_marl.training.settings import RunSettings

Block = dict[str, dict[str, Any]]  # rows of a replay buffer: {field: {agent: array [rows, ...]}}


class PopulationWorker:
    """Trains and evaluates ``num_members`` members per generation on its own batched env.

    Args:
        env: any env of the population's kind; the worker spawns ``num_members x num_envs`` sub-envs from it
            for training and ``settings.eval_loop`` for evaluation.
        settings: the run's settings. entropy: the run's root entropy (evaluation episodes, shared by all
            workers). phase_entropy: this worker's collection streams (env resets, fallback actions).
        net_config: the population's network config (members are rebuilt from their states with it).
        buffer_state: the shared replay buffer's ``state_dict()`` (off-policy), ``buffer_rng`` this worker's
            sampling RNG state. threads: torch intra-op threads. env_state: the ``state_dict()`` of this
            worker's training and evaluation envs after its last generation (the step counts a curriculum
            reads), None for a fresh run.
    """

    def __init__(self, env: VectorEnv, settings: RunSettings, entropy: int, phase_entropy: int, num_members: int,
                 num_envs: int, net_config: dict | None, device: str, buffer_state: dict | None,
                 buffer_rng: dict | None, threads: int = 1, env_state: list[dict] | None = None):
        torch.set_num_threads(threads)
        self.settings, self.entropy, self.phase_entropy = settings, entropy, phase_entropy
        self.num_envs, self.net_config, self.device = num_envs, net_config, device
        self.env = env.spawn(num_members * num_envs)
        self.eval_env = env.spawn(settings.eval_loop).for_evaluation()
        if env_state:
            self.env.load_state_dict(env_state[0])
            self.eval_env.load_state_dict(env_state[1])
        self.memory: MultiAgentReplayBuffer | None = None
        if buffer_state is not None:
            self.memory = MultiAgentReplayBuffer(buffer_state["memory_size"], buffer_state["field_names"],
                                                 agent_ids=buffer_state["agent_ids"], device=device)
            self.memory.load_state_dict(buffer_state)
            if buffer_rng is not None:
                self.memory.rng.bit_generator.state = buffer_rng
            self.mark = self.memory.mark()
        self.phase = None

    def ready(self) -> int:
        """The worker's process id (once the constructor has run)."""
        return os.getpid()

    def _sync(self, blocks: tuple[Block, ...]) -> None:
        """Replace this worker's rows of the last generation by every worker's, in worker order."""
        self.memory.rewind(self.mark)
        for block in blocks:
            if block:
                self.memory.save_to_memory(**block, is_vectorised=True)

    def run_generation(self, generation: int, states: list[dict], failed: list[bool], sync: bool,
                       *blocks: Block) -> tuple[dict[str, Any], Block]:
        """Train and evaluate the given members for one generation.

        ``sync``: first add the last generation's rows of every worker (``blocks``, in worker order) to the
        replay buffer. Returns ``(report, block)``: the members' states, failure flags, the phase's
        :class:`PhaseResult` (with evaluations), the buffer's RNG state and timings; and this generation's
        own transitions.
        """
        t0 = time.perf_counter()
        if self.memory is not None:
            if sync:
                self._sync(blocks)
            self.mark = self.memory.mark()
        t1 = time.perf_counter()
        population = [member_from_state(s, s["meta"]["index"], self.net_config, self.num_envs, self.device)
                      for s in states]
        for member, flag in zip(population, failed):
            member.failed = bool(flag)
        if self.phase is None:
            self.phase = build_phase(population, self.env, self.memory, self.settings, self.phase_entropy)
        t2, cpu = time.perf_counter(), time.process_time()
        result = self.phase(population, generation)
        t_eval = time.perf_counter()
        result.evaluations = evaluate_generation(population, self.eval_env, self.settings, self.entropy, generation)
        result.timings["evaluation"] = time.perf_counter() - t_eval
        t3, cpu = time.perf_counter(), time.process_time() - cpu
        block = self.memory.rows_since(self.mark) if self.memory is not None else {}
        t4 = time.perf_counter()
        report = {"states": [m.state_dict() for m in population], "failed": [bool(m.failed) for m in population],
                  "result": result,
                  "buffer_rng": self.memory.rng.bit_generator.state if self.memory is not None else None,
                  "env_state": [self.env.state_dict(), self.eval_env.state_dict()]}
        report["timings"] = {"replay_sync": (t1 - t0) + (t4 - t3), "compute": t3 - t2, "compute_cpu": cpu,
                             "members": (t2 - t1) + (time.perf_counter() - t4)}
        return report, block
