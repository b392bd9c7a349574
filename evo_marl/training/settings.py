"""How a population trains, as one typed object built once: from a YAML experiment
(:mod:`evo_marl.experiment`) or from the AgileRL-style keyword arguments (:mod:`evo_marl.training.api`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evo_marl import validation
from evo_marl.errors import ConfigError
from evo_marl.hpo.fitness import RETURN, check_fitness_metric
from evo_marl.population.precision import check_precision

EVAL_SETS = ("fresh", "fixed")
STACK_GROUPINGS = ("pad", "shape", "auto")


@dataclass
class RunSettings:
    """Budget, evaluation, fitness and outputs of a run. Steps are env steps per member.

    Attributes:
        env_name: the env's name (default run folder, checkpoint signature).
        max_steps: env steps per member in all. evo_steps: env steps per member per generation (<= max_steps).
        eval_steps: step cap of evaluation episodes (None: run them to the end).
        eval_loop: evaluation episodes per member per generation (every member plays the same ones).
        eval_set: ``"fresh"`` draws new evaluation episodes every generation; ``"fixed"`` replays the same
            validation episodes (same seeds) every generation, so stochastic envs compare like with like.
        fitness_window: a member's fitness is the mean of its last ``fitness_window`` evaluations
            (:mod:`evo_marl.hpo.fitness`); used by selection, records, reports, ``best_member`` and stopping.
        fitness_metric: what an evaluation scores: ``"return"`` (mean team return, the default) or an episode
            metric of the env, ``-`` first to minimise it (``"clean"``, ``"-episode_length"``).
        learning_delay: off-policy only: transitions in the shared buffer before anyone learns.
        seed: root seed (None: fresh OS entropy, saved with the checkpoints).
        run_dir: the run folder (None: ``populations/<env_name>_<algo>``, numbered if taken).
        resume / overwrite: continue the newest checkpoint of ``run_dir`` / replace its checkpoints.
        checkpoint: write ``generation_<g>/`` folders. keep_checkpoints: how many to keep (None: all). keep_every:
            also keep those of every generation that is a multiple of it (a run to look back on).
        save_buffer: include the replay buffer in checkpoints (off-policy; exact resume needs it).
        batched_learning: members act and learn as stacks (:mod:`evo_marl.population`): one forward per
            parameter-sharing group for the whole population and one update for all members due to learn;
            equal to member-by-member learning to float tolerance, and faster. False: one member after another.
        stack_grouping: how batched learning stacks members whose architectures differ: ``"auto"`` (one stack per
            network depth, narrower members zero-padded, unless padding would add more than half the work),
            ``"pad"`` (one stack per depth) or ``"shape"`` (one stack per exact shape);
            :mod:`evo_marl.population.network`.
        precision: of batched learning: ``"float32"`` (default) or ``"bfloat16"`` (the hidden layers' products in
            bfloat16, everything else float32; :mod:`evo_marl.population.precision`). Needs ``batched_learning``.
        verbose: progress bar. wandb / wandb_kwargs: W&B tracking. mlflow / mlflow_kwargs: MLflow tracking
            (:class:`~evo_marl.tracking.mlflow_writer.MLflowWriter` options). config: the experiment as a dict (for
            trackers). net_config: saved in the manifest so checkpoints rebuild their members.
    """

    env_name: str
    max_steps: int = 50_000
    evo_steps: int = 2_500
    eval_steps: int | None = None
    eval_loop: int = 1
    eval_set: str = "fresh"
    fitness_window: int = 1
    fitness_metric: str = RETURN
    learning_delay: int = 0
    seed: int | None = None
    run_dir: str | Path | None = None
    resume: bool = False
    overwrite: bool = False
    checkpoint: bool = True
    keep_checkpoints: int | None = 3
    keep_every: int | None = None
    save_buffer: bool = True
    batched_learning: bool = True
    stack_grouping: str = "auto"
    precision: str = "float32"
    verbose: bool = True
    wandb: bool = False
    wandb_kwargs: dict[str, Any] = field(default_factory=dict)
    mlflow: bool = False
    mlflow_kwargs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    net_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("max_steps", "evo_steps", "eval_loop", "fitness_window"):
            validation.positive_int(name, getattr(self, name))
        if self.evo_steps > self.max_steps:
            raise ConfigError("evo_steps", self.evo_steps, f"must be <= max_steps ({self.max_steps}): a generation "
                              "cannot be longer than the whole budget")
        validation.number("eval_steps", self.eval_steps, 1, integer=True, optional=True)
        validation.one_of("eval_set", self.eval_set, EVAL_SETS)
        check_fitness_metric("fitness_metric", self.fitness_metric)
        validation.number("learning_delay", self.learning_delay, 0, integer=True)
        if self.seed is not None:
            validation.number("seed", self.seed, 0, integer=True)
        if self.keep_checkpoints is not None:
            validation.positive_int("keep_checkpoints", self.keep_checkpoints)
        if self.keep_every is not None:
            validation.positive_int("keep_every", self.keep_every)
        validation.one_of("stack_grouping", self.stack_grouping, STACK_GROUPINGS)
        check_precision("precision", self.precision, self.batched_learning, "batched_learning")
        for name in ("resume", "overwrite", "checkpoint", "save_buffer", "batched_learning", "verbose", "wandb",
                     "mlflow"):
            validation.flag(name, getattr(self, name))
        if self.resume and self.overwrite:
            raise ConfigError("resume", True, "cannot be combined with overwrite (continue a run, or replace it)")
