"""Run an :class:`~evo_marl.config.ExperimentConfig` end to end: env, population, operators, trainer, outputs.

The config is turned once into the trainer's inputs — a typed :class:`~evo_marl.training.settings.RunSettings`,
the population (typed hyperparameters), the shared buffer for off-policy algorithms, the selection and
mutation operators, stopping criteria (generic ones and those the env family contributes) and writers —
and handed to :func:`~evo_marl.training.trainer.train_population`.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import contextmanager
from pathlib import Path

import torch

from evo_marl.algorithms.registry import create_population, get_algorithm
from evo_marl.buffers import MultiAgentReplayBuffer
from evo_marl.config import ExperimentConfig, load_config
from evo_marl.envs import make_vec_env
from evo_marl.envs.registry import family_of
from evo_marl.errors import CheckpointError, ConfigError
from evo_marl.hpo import Mutations, MultiFrequencyPBT, NoSelection, TournamentSelection, TTestSelection, best_member
from evo_marl.league.experiment import league_env, run_league
from evo_marl.league.plots import plot_league_run
from evo_marl.run_folder import check_run_folder, write_text_atomic
from evo_marl.stopping import ConvergenceCriterion, StoppingCriterion, TargetFitness
from evo_marl.training.settings import RunSettings
from evo_marl.training.trainer import train_population

logger = logging.getLogger(__name__)
TRAINER_FIELDS = ("obs", "action", "reward", "next_obs", "termination", "active")
CONFIG_FILE = "config.yaml"


@contextmanager
def torch_threads(n: int):
    """Run with ``n`` intra-op threads (small MLPs are fastest single-threaded), restoring the old value."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def stopping_criteria(config: ExperimentConfig) -> list[StoppingCriterion]:
    """Generic criteria from ``training.stopping`` plus those its ``criteria`` names from the env family."""
    s = config.training.stopping
    criteria: list[StoppingCriterion] = []
    if s.target is not None:
        criteria.append(TargetFitness(s.target))
    if s.convergence_target is not None:
        criteria.append(ConvergenceCriterion(s.convergence_target, s.convergence_window, s.convergence_patience))
    offered = family_of(config.env.id).stopping
    for name, args in s.criteria.items():
        where = f"training.stopping.criteria.{name}"
        if name not in offered:
            raise ConfigError(where, args, f"not a stopping criterion of env family {config.env.id.split('/')[0]!r}; "
                              f"valid: {sorted(offered)}")
        try:
            env_id = config.env.id
            criteria.append(offered[name](**args, env_id=env_id) if isinstance(args, dict)
                            else offered[name](args, env_id=env_id))
        except ConfigError as err:
            raise err.renamed(f"{where}.{err.field}") from None
    return criteria


def available_device(device: str) -> torch.device:
    """``device`` (the config's ``device``), or a ConfigError if this machine has no such device."""
    target = torch.device(device)
    if target.type == "cuda" and (not torch.cuda.is_available() or (target.index or 0) >= torch.cuda.device_count()):
        raise ConfigError("device", device, f"is not available on this machine ({torch.cuda.device_count()} CUDA "
                          "devices); use device: cpu")
    return target


def build_population(config: ExperimentConfig, env) -> list:
    """The initial population: typed hyperparameters from ``init_hp``, the search space from ``hp_ranges``."""
    hp, options = config.hyperparameters()
    return create_population(
        config.algo, [env.single_observation_space(a) for a in env.agents],
        [env.single_action_space(a) for a in env.agents], config.net_config, hp_config=config.search_space(),
        population_size=config.population_size, num_envs=config.env.num_envs, agent_ids=env.agents,
        seed=config.seed, hp_init=config.hp_init, hp=hp, device=available_device(config.device), **options)


def build_selection(config: ExperimentConfig):
    """The selection strategy named in ``selection.strategy``."""
    sel, window = config.selection, config.training.fitness_window
    if sel.strategy == "none":
        return NoSelection(eval_loop=window, seed=config.seed)
    if sel.strategy == "multi_frequency":
        return MultiFrequencyPBT(config.population_size, eval_loop=window, seed=config.seed,
                                 burn_in_steps=sel.burn_in_steps, **sel.multi_frequency_options())
    if sel.strategy == "ttest":
        return TTestSelection(config.population_size, eval_loop=window, seed=config.seed,
                              burn_in_steps=sel.burn_in_steps, **sel.ttest_options())
    return TournamentSelection(sel.tournament_size, sel.elitism, config.population_size, window, seed=config.seed,
                               burn_in_steps=sel.burn_in_steps)


def build_mutation(config: ExperimentConfig) -> Mutations:
    m = config.mutation
    return Mutations(no_mutation=m.no_mutation, architecture=m.architecture, new_layer_prob=m.new_layer_prob,
                     parameters=m.parameters, activation=m.activation, rl_hp=m.rl_hp, mutation_sd=m.mutation_sd,
                     activation_selection=m.activation_selection, rand_seed=config.seed)


def run_settings(config: ExperimentConfig, resume: bool = False, overwrite: bool = False,
                 verbose: bool = True) -> RunSettings:
    """The trainer's :class:`RunSettings` for ``config``."""
    t, out = config.training, config.output
    return RunSettings(
        env_name=config.env.id, max_steps=t.max_steps, evo_steps=t.evo_steps, eval_steps=t.eval_steps,
        eval_loop=t.eval_loop, eval_set=t.eval_set, fitness_window=t.fitness_window,
        fitness_metric=t.fitness_metric, learning_delay=t.learning_delay or 0, seed=config.seed,
        run_dir=config.run_dir, resume=resume, overwrite=overwrite, checkpoint=out.checkpoint,
        keep_checkpoints=out.keep_checkpoints, keep_every=out.keep_every, save_buffer=out.save_buffer,
        batched_learning=t.batched_learning, stack_grouping=t.stack_grouping, precision=t.precision, verbose=verbose,
        wandb=config.tracking.wandb, wandb_kwargs=dict(config.tracking.wandb_kwargs, name=config.name),
        mlflow=config.tracking.mlflow, mlflow_kwargs=dict(config.tracking.mlflow_kwargs), config=config.to_dict(),
        net_config=config.net_config)


def run_experiment(config: ExperimentConfig, resume: bool = False, overwrite: bool = False,
                   verbose: bool = True, stopping: list[StoppingCriterion] | None = None,
                   writers: list | None = None, engine: str | None = None) -> tuple[list, list[list[float]], Path]:
    """Train the population described by ``config``; returns ``(population, fitness history, run_dir)``.

    Everything is checked before anything is written or trained: the run folder (it must not hold another
    run unless ``resume`` / ``overwrite``), the env and its options, the population against the env, the
    operators and a resumed checkpoint's signature. ``config.yaml`` is written only then.

    ``stopping`` and ``writers`` add criteria and metric writers to those the config switches on.

    ``engine`` overrides ``config.engine``: ``"evo-marl"`` (default) or ``"agilerl"`` (AgileRL's own trainer,
    :mod:`evo_marl.engines.agilerl`; the population is then a list of AgileRL agents).
    """
    if engine is not None:
        config = dataclasses.replace(config, engine=engine)
    if config.engine == "agilerl":
        return run_agilerl(config, resume, overwrite, verbose)
    run_dir = config.run_dir
    check_run_folder(run_dir, resume, overwrite, config.output.checkpoint)
    with torch_threads(config.training.threads):
        settings = run_settings(config, resume, overwrite, verbose)
        stopping = stopping_criteria(config) + list(stopping or [])
        with config.env.naming_options():
            env = league_env(config) if config.league is not None else None
            env = env or make_vec_env(config.env.id, num_envs=config.env.num_envs, seed=config.seed,
                                      **config.env.kwargs)
        pop = build_population(config, env)
        operators = dict(selection=build_selection(config), mutation=build_mutation(config), stopping=stopping,
                         writers=optional_writers(config, run_dir) + list(writers or []),
                         on_start=lambda folder: write_config(config, folder))
        if config.league is not None:
            pop, history = run_league(config, env, pop, settings, **operators)
        else:
            memory = None
            if not get_algorithm(config.algo).on_policy:
                memory = MultiAgentReplayBuffer(config.training.memory_size, TRAINER_FIELDS, agent_ids=env.agents,
                                                device=available_device(config.device))
            pop, history = train_population(env, pop, settings, memory=memory, backend=config.backend, **operators)
    if config.output.plots:
        make_plots(run_dir, config, pop)
        if config.league is not None:
            plot_league_run(run_dir)
    return pop, history, run_dir


def run_agilerl(config: ExperimentConfig, resume: bool, overwrite: bool,
                verbose: bool) -> tuple[list, list[list[float]], Path]:
    """``run_experiment`` with ``engine: agilerl``: the same run folder, around AgileRL's trainer."""
    from evo_marl.engines import agilerl

    agilerl.require_agilerl()
    settings = run_settings(config, resume, overwrite, verbose)
    agilerl.check_settings(settings, list(config.training.stopping.criteria))
    check_run_folder(config.run_dir, resume, overwrite, config.output.checkpoint)
    agilerl.prepare_run_dir(config.run_dir, overwrite)
    with torch_threads(config.training.threads):
        stopping = stopping_criteria(config)
        pop, history = agilerl.run_experiment(config, settings, stopping, optional_writers(config, config.run_dir),
                                              on_start=lambda folder: write_config(config, folder))
    if config.output.plots:
        make_plots(config.run_dir, config)
    return pop, history, config.run_dir


def optional_writers(config: ExperimentConfig, run_dir: Path) -> list:
    """The metric writers the config switches on besides CSV and W&B (a missing package: one warning)."""
    writers = []
    if config.tracking.tensorboard:
        from evo_marl.tracking.tensorboard_writer import TensorBoardUnavailable, TensorBoardWriter

        try:
            writers.append(TensorBoardWriter(run_dir))
        except TensorBoardUnavailable as err:
            logger.warning("TensorBoard logging is off: %s", err)
    return writers


def write_config(config: ExperimentConfig, run_dir: Path) -> None:
    """``<run_dir>/config.yaml`` (replaced atomically)."""
    write_text_atomic(run_dir / CONFIG_FILE, config.to_yaml(), run_dir)


def make_plots(run_dir: Path, config: ExperimentConfig, population: list | None = None) -> list[Path]:
    """PNG plots of a finished run: fitness, hyperparameters, lineage, and the env family's own plots of the
    best member (``EnvFamily.run_plotters``)."""
    from evo_marl.tracking.plots import plot_run

    paths: list[Path] = []
    try:
        paths += plot_run(run_dir)
        if population:
            member = best_member(population, config.training.fitness_window)
            scenario = config.env.id.split("/", 1)[1]
            for plotter in family_of(config.env.id).run_plotters:
                paths.append(plotter(run_dir, scenario, dict(config.env.kwargs), member, config.seed))
    except Exception as err:  # plots never lose a finished run
        logger.warning("plotting %s failed: %s: %s", run_dir, type(err).__name__, err)
    return paths


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The configuration a run folder was trained with (``config.yaml``)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: missing; cannot rebuild the env of this run")
    return load_config(path)


__all__ = ["CONFIG_FILE", "build_mutation", "build_population", "build_selection", "load_run_config",
           "make_plots", "run_experiment", "run_settings", "stopping_criteria"]
