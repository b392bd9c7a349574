"""The generation loop shared by the off-policy and on-policy trainers.

Per generation: a trainer-specific *phase* collects experience and learns; then the runner evaluates
every member without exploration, computes the run's fitness (:mod:`evo_marl.hpo.fitness`), writes
metrics, checks stopping criteria, applies selection and mutation, and checkpoints the next
generation's population atomically.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from evo_marl.errors import CheckpointError
from evo_marl.hpo.fitness import best_index, member_fitness
from evo_marl.run_folder import latest_complete_generation
from evo_marl.stopping import StoppingCriterion
from evo_marl.tracking.records import GenerationRecord, MemberRecord
from evo_marl.tracking.writers import WriterGroup
from evo_marl.training import checkpoint as ckpt
from evo_marl.training.collect import PhaseResult
from evo_marl.training.evaluation import evaluate_generation
from evo_marl.training.settings import RunSettings

logger = logging.getLogger(__name__)

Phase = Callable[[list, int], PhaseResult]
"""One generation's collection and learning: ``phase(population, generation) -> PhaseResult``."""


class EvolutionRunner:
    """Drives generations of a population (see the module docstring)."""

    def __init__(self, population: list, selection, mutation, eval_env, settings: RunSettings, run_dir: Path,
                 signature: dict[str, Any], stopping: list[StoppingCriterion], writers: WriterGroup | None,
                 entropy: int, memory=None, components: dict[str, Any] | None = None):
        self.population, self.selection, self.mutation = population, selection, mutation
        self.components = dict(components or {})  # name -> object with state_dict()/load_state_dict(), checkpointed
        self.eval_env, self.settings, self.stopping, self.writers = eval_env, settings, stopping, writers
        self.run_dir, self.signature = run_dir, signature
        self.entropy, self.memory = entropy, memory
        self.generation = 0
        self.history: list[list[float]] = []
        self.total_steps = 0
        self.elapsed = 0.0
        self.evolved = True  # False while the population of the last generation is the evaluated one
        self.stop_reason: str | None = None
        self.best: dict[str, Any] | None = None  # generation, index and fitness of the best member ever evaluated
        self._best_member = None  # that member, until _save writes it to best/
        for criterion in stopping:
            criterion.population = population  # the live list: selection replaces its members in place

    # ------------------------------------------------------------------ resume
    def resume(self) -> bool:
        """Load the newest generation of ``run_dir``; returns False when there is none."""
        latest = latest_complete_generation(self.run_dir)
        if latest is None:
            damaged = ckpt.generation_dirs(self.run_dir)
            if damaged:  # never start afresh over checkpoints that exist but cannot be read
                try:
                    ckpt.read_manifest(damaged[-1])
                except CheckpointError as err:
                    raise CheckpointError(f"{self.run_dir}: no complete generation folder to resume from "
                                          f"({len(damaged)} incomplete; the newest: {err})") from err
            return False
        manifest = ckpt.read_manifest(latest)
        ckpt.check_signature(manifest.get("signature", {}), self.signature, latest)
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
        self.best = manifest.get("best")
        self.selection.load_state_dict(manifest["selection_state"])
        self.mutation.load_state_dict(manifest["mutation_state"])
        for criterion, state in zip(self.stopping, manifest.get("stopping", [])):
            criterion.load_state_dict(state)
        saved = manifest.get("components", {})
        for name, component in self.components.items():
            if name not in saved and getattr(component, "state_optional", False):
                logger.warning("%s holds no %r state: it starts afresh (the run goes on, but does not repeat an "
                               "uninterrupted run)", latest, name)
                continue
            if name not in saved:
                raise CheckpointError(f"{latest}: holds no {name!r} state (it is not a checkpoint of this kind of run)")
            component.load_state_dict(saved[name])
        if self.memory is not None and manifest.get("has_buffer"):
            self.memory.load_state_dict(ckpt.load_tensor_file(latest / "buffer.pt"))
        elif self.memory is not None:
            logger.warning("%s has no replay buffer: learning resumes with an empty buffer", latest)
        logger.info("resumed from %s (generation %d, %d steps)", latest, self.generation, self.total_steps)
        return True

    def _run_state(self) -> dict[str, Any]:
        return {
            "signature": self.signature, "entropy": self.entropy, "history": self.history,
            "total_steps": self.total_steps, "wall_time": self.elapsed,
            "stop_reason": self.stop_reason, "evolved": self.evolved, "best": self.best,
            "selection_state": self.selection.state_dict(), "mutation_state": self.mutation.state_dict(),
            "stopping": [c.state_dict() for c in self.stopping], "fitness_window": self.settings.fitness_window,
            "fitness_metric": self.settings.fitness_metric,
            "net_config": self.settings.net_config, "num_envs": self.population[0].num_envs,
            "components": {name: c.state_dict() for name, c in self.components.items()},
        }

    def _save(self) -> None:
        """Write ``best/`` (when this generation improved on it) and the generation's checkpoint."""
        best, self._best_member = self._best_member, None
        if not self.settings.checkpoint:
            return
        if best is not None:
            ckpt.save_best(self.run_dir, self.generation, best, self.best["fitness"], self._run_state())
        memory = self.memory if self.settings.save_buffer else None
        ckpt.save_generation(self.run_dir, self.generation, self.population, self._run_state(), memory,
                             keep=self.settings.keep_checkpoints, keep_every=self.settings.keep_every)

    def _keep_best(self, fitness: list[float]) -> None:
        """Remember (a copy of) the member to write to ``best/`` when this generation holds the best member ever
        evaluated (by the run's fitness); it is written after the generation's metrics, as evaluated."""
        k = best_index(fitness)
        if not math.isfinite(fitness[k]):
            logger.warning("generation %d: every member failed (see the warnings above); none has a fitness",
                           self.generation)
            return
        if self.best is not None and fitness[k] <= self.best["fitness"]:
            return
        self.best = {"generation": self.generation, "index": self.population[k].index, "fitness": fitness[k]}
        self._best_member = self.population[k].clone() if self.settings.checkpoint else None

    # ------------------------------------------------------------------ main loop
    def _budget_left(self) -> bool:
        return min(m.steps[-1] for m in self.population) < self.settings.max_steps

    def fitness(self) -> list[float]:
        """The run's fitness of every member (NaN where it ranks last: failed, unevaluated, non-finite)."""
        values = [member_fitness(m, self.settings.fitness_window) for m in self.population]
        return [v if math.isfinite(v) else math.nan for v in values]

    def _record(self, phase: PhaseResult, evaluations, fitness: list[float],
                timings: dict[str, float]) -> GenerationRecord:
        members = []
        for k, (member, ev) in enumerate(zip(self.population, evaluations)):
            members.append(MemberRecord(
                index=member.index, parent=member.parent, mutation=member.mut, fitness=fitness[k],
                eval_return=ev.mean_return,
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
        """Selection and mutation form the next generation's population."""
        _, self.population[:] = self.selection.select(self.population, self.fitness())
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
                evaluations = result.evaluations  # a phase may evaluate where it trained (distributed backends)
                if evaluations is None:
                    evaluations = evaluate_generation(self.population, self.eval_env, s, self.entropy,
                                                      self.generation)
                timings = dict(result.timings)
                timings["evaluation"] = timings.get("evaluation", 0.0) + time.perf_counter() - t_eval
                fitness = self.fitness()
                self.history.append(fitness)
                self._keep_best(fitness)
                self.elapsed += time.perf_counter() - started
                record = self._record(result, evaluations, fitness, timings)
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
