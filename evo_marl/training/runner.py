"""The generation loop shared by the off-policy and on-policy trainers.

Per generation: a trainer-specific *phase* collects experience and learns; then the runner evaluates
every member without exploration, writes metrics, checks stopping criteria, applies tournament
selection and mutation, and checkpoints the next generation's population atomically.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from evo_marl.errors import CheckpointError, ConfigError
from evo_marl.training import checkpoint as ckpt
from evo_marl.training.evaluation import evaluate_population
from evo_marl.training.records import GenerationRecord, MemberRecord
from evo_marl.training.stopping import StoppingCriterion
from evo_marl.tracking.writers import WriterGroup

logger = logging.getLogger(__name__)


@dataclass
class PhaseResult:
    """What a trainer's collect-and-learn phase reports for one generation."""

    transitions: int
    timings: dict[str, float]
    train_scores: list[float]
    losses: list[dict[str, float]]


Phase = Callable[[list, int], PhaseResult]


def derived_seed(entropy: int, *key: int) -> int:
    """A 31-bit seed for (purpose, generation, ...) derived from the run's root entropy."""
    return int(np.random.SeedSequence(entropy, spawn_key=tuple(key)).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class RunSettings:
    max_steps: int
    evo_steps: int
    eval_steps: int | None = None
    eval_loop: int = 1
    run_dir: Path | None = None
    checkpoint: bool = True
    keep_checkpoints: int | None = 3
    save_buffer: bool = True
    verbose: bool = True
    signature: dict[str, Any] = field(default_factory=dict)
    manifest_extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("max_steps", "evo_steps", "eval_loop"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ConfigError(name, value, "must be an integer >= 1")
        if self.eval_steps is not None and (not isinstance(self.eval_steps, int) or self.eval_steps < 1):
            raise ConfigError("eval_steps", self.eval_steps, "must be None (run episodes to the end) or an integer >= 1")


class EvolutionRunner:
    """Drives generations of a population (see the module docstring)."""

    def __init__(self, population: list, tournament, mutation, eval_env, settings: RunSettings,
                 stopping: list[StoppingCriterion], writers: WriterGroup, entropy: int, memory=None):
        self.population, self.tournament, self.mutation = population, tournament, mutation
        self.eval_env, self.settings, self.stopping, self.writers = eval_env, settings, stopping, writers
        self.entropy, self.memory = entropy, memory
        self.generation = 0
        self.history: list[list[float]] = []
        self.total_steps = 0
        self.elapsed = 0.0
        self.evolved = True  # False while the population of the last generation is the evaluated one
        self.stop_reason: str | None = None

    # ------------------------------------------------------------------ resume
    def resume(self) -> bool:
        """Load the newest generation of ``run_dir``; returns False when there is none."""
        run_dir = self.settings.run_dir
        latest = ckpt.latest_generation(run_dir) if run_dir else None
        if latest is None:
            return False
        manifest = ckpt.read_manifest(latest)
        ckpt.check_signature(manifest.get("signature", {}), self.settings.signature, latest)
        population = ckpt.load_population(latest, device=self.population[0].device)
        if len(population) != len(self.population):
            raise CheckpointError(f"{latest}: holds {len(population)} members, this run has {len(self.population)}")
        self.population[:] = population
        self.generation = int(manifest["generation"])
        self.history = [list(h) for h in manifest.get("history", [])]
        self.total_steps = int(manifest.get("total_steps", 0))
        self.elapsed = float(manifest.get("wall_time", 0.0))
        self.entropy = int(manifest["entropy"])
        self.evolved = bool(manifest.get("evolved", True))
        self.stop_reason = manifest.get("stop_reason")
        self.tournament.rng.bit_generator.state = manifest["tournament_rng"]
        self.mutation.rng.bit_generator.state = manifest["mutation_rng"]
        for criterion, state in zip(self.stopping, manifest.get("stopping", [])):
            criterion.load_state_dict(state)
        if self.memory is not None and manifest.get("has_buffer"):
            self.memory.load_state_dict(ckpt.load_tensor_file(latest / "buffer.pt"))
        elif self.memory is not None:
            logger.warning("%s has no replay buffer: learning resumes with an empty buffer", latest)
        logger.info("resumed from %s (generation %d, %d steps)", latest, self.generation, self.total_steps)
        return True

    def _save(self) -> None:
        if not (self.settings.checkpoint and self.settings.run_dir):
            return
        state = {
            "signature": self.settings.signature, "entropy": self.entropy, "history": self.history,
            "total_steps": self.total_steps, "wall_time": self.elapsed,
            "stop_reason": self.stop_reason, "evolved": self.evolved,
            "tournament_rng": self.tournament.rng.bit_generator.state,
            "mutation_rng": self.mutation.rng.bit_generator.state,
            "stopping": [c.state_dict() for c in self.stopping], **self.settings.manifest_extra,
        }
        memory = self.memory if self.settings.save_buffer else None
        ckpt.save_generation(self.settings.run_dir, self.generation, self.population, state, memory,
                             keep=self.settings.keep_checkpoints)

    # ------------------------------------------------------------------ main loop
    def _budget_left(self) -> bool:
        return min(m.steps[-1] for m in self.population) < self.settings.max_steps

    def _record(self, phase: PhaseResult, evaluations, timings: dict[str, float]) -> GenerationRecord:
        members = []
        for k, (member, ev) in enumerate(zip(self.population, evaluations)):
            members.append(MemberRecord(
                index=member.index, parent=member.parent, mutation=member.mut, fitness=ev.fitness,
                steps=member.steps[-1], hyperparameters=member.hyperparameters(), architecture=member.architecture(),
                activation=member.activation, parameter_count=member.parameter_count(),
                train_score=phase.train_scores[k] if k < len(phase.train_scores) else math.nan,
                eval_metrics=ev.metrics, losses=phase.losses[k] if k < len(phase.losses) else {},
                failed=bool(member.failed)))
        total_time = sum(timings.values())
        return GenerationRecord(self.generation, self.total_steps, members, timings,
                                transitions_per_second=phase.transitions / max(total_time, 1e-9),
                                wall_time=self.elapsed)

    def _evolve(self) -> None:
        """Tournament selection and mutation form the next generation's population."""
        _, self.population[:] = self.tournament.select(self.population)
        self.mutation.mutation(self.population)
        for member in self.population:
            member.steps.append(member.steps[-1])
        self.evolved = True

    def run(self, phase: Phase) -> tuple[list, list[list[float]]]:
        """Run generations until the step budget is spent or a stopping criterion fires."""
        s = self.settings
        if not self.evolved and self.stop_reason is None and self.generation > 0 and self._budget_left():
            self._evolve()  # a resumed run whose last generation ended its (smaller) budget
        bar = tqdm(total=s.max_steps, initial=min(m.steps[-1] for m in self.population), unit="step",
                   desc="evo-marl", disable=not s.verbose, dynamic_ncols=True)
        try:
            while self._budget_left() and self.stop_reason is None:
                started = time.perf_counter()
                self.generation += 1
                self.evolved = False
                before = min(m.steps[-1] for m in self.population)
                result = phase(self.population, self.generation)
                self.total_steps += result.transitions
                t_eval = time.perf_counter()
                for member in self.population:
                    if not member.has_finite_weights():
                        logger.warning("member %s has non-finite weights; it is ranked last", member.index)
                        member.failed = True
                evaluations = evaluate_population(self.population, self.eval_env, s.eval_steps,
                                                  seed=derived_seed(self.entropy, 2, self.generation))
                timings = dict(result.timings, evaluation=time.perf_counter() - t_eval)
                self.history.append([ev.fitness for ev in evaluations])
                self.elapsed += time.perf_counter() - started
                record = self._record(result, evaluations, timings)
                stop = [c.name for c in self.stopping if c.update(record)]
                self.stop_reason = record.stop_reason = stop[0] if stop else None
                t_evo = time.perf_counter()
                if not stop and self._budget_left():
                    self._evolve()
                record.timings["evolution"] = time.perf_counter() - t_evo
                self.writers.write_generation(record)
                self._save()
                self.elapsed += time.perf_counter() - t_evo
                bar.update(min(m.steps[-1] for m in self.population) - before)
                bar.set_postfix(gen=self.generation, best=f"{record.best_fitness:.2f}",
                                mean=f"{record.mean_fitness:.2f}")
                if stop:
                    logger.info("stopping after generation %d: %s", self.generation, ", ".join(stop))
        finally:
            bar.close()
            self.writers.close()
        return self.population, self.history
