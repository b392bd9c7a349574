"""Run an :class:`~evo_marl.config.ExperimentConfig` end to end: env, population, trainer, outputs."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from evo_marl.algorithms.registry import create_population, get_algorithm
from evo_marl.buffers import MultiAgentReplayBuffer
from evo_marl.config import ExperimentConfig
from evo_marl.envs import make_env, make_vec_env
from evo_marl.hpo import HyperparameterConfig, Mutations, TournamentSelection
from evo_marl.training.stopping import ConflictFreeStreak, ConvergenceCriterion, StoppingCriterion

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
    s = config.training.stopping
    criteria: list[StoppingCriterion] = []
    if s.convergence_target is not None:
        criteria.append(ConvergenceCriterion(s.convergence_target, s.convergence_window, s.convergence_patience))
    if s.conflict_free_streak is not None:
        criteria.append(ConflictFreeStreak(s.conflict_free_streak))
    return criteria


def make_env_for(config: ExperimentConfig):
    """The training env: ``env.id``, or the league's list of Bucket Brigade scenarios when it has one."""
    if config.league is not None and config.league.scenarios:
        from evo_marl.league.scenarios import MultiScenarioVecEnv

        lc = config.league
        return MultiScenarioVecEnv(lc.scenarios, config.env.num_envs, lc.scenario_mode, lc.generations_per_scenario,
                                   seed=config.seed, **config.env.kwargs)
    return make_vec_env(config.env.id, num_envs=config.env.num_envs, seed=config.seed, **config.env.kwargs)


def build_population(config: ExperimentConfig, env) -> list:
    hp_config = HyperparameterConfig.from_dict(config.hp_ranges) if config.hp_ranges else None
    return create_population(
        config.algo, [env.single_observation_space(a) for a in env.agents],
        [env.single_action_space(a) for a in env.agents], config.net_config,
        {**config.init_hp, "AGENT_IDS": env.agents}, hp_config=hp_config, population_size=config.population_size,
        num_envs=config.env.num_envs, seed=config.seed)


def run_experiment(config: ExperimentConfig, resume: bool = False, overwrite: bool = False,
                   verbose: bool = True) -> tuple[list, list[list[float]], Path]:
    """Train the population described by ``config``; returns ``(population, fitness history, run_dir)``."""
    from evo_marl.training.api import train_multi_agent_off_policy

    run_dir = config.run_dir
    t = config.training
    with torch_threads(t.threads):
        env = make_env_for(config)
        pop = build_population(config, env)
        tournament = TournamentSelection(config.tournament.tournament_size, config.tournament.elitism,
                                         config.population_size, t.eval_loop, seed=config.seed)
        m = config.mutation
        mutation = Mutations(no_mutation=m.no_mutation, architecture=m.architecture, new_layer_prob=m.new_layer_prob,
                             parameters=m.parameters, activation=m.activation, rl_hp=m.rl_hp,
                             mutation_sd=m.mutation_sd, activation_selection=m.activation_selection,
                             rand_seed=config.seed)
        common: dict[str, Any] = dict(
            INIT_HP=config.init_hp, net_config=config.net_config, max_steps=t.max_steps, evo_steps=t.evo_steps,
            eval_steps=t.eval_steps, eval_loop=t.eval_loop, target=t.stopping.target, tournament=tournament,
            mutation=mutation, checkpoint=config.output.checkpoint, overwrite_checkpoints=overwrite,
            wb=config.tracking.wandb, verbose=verbose, seed=config.seed, run_dir=run_dir, resume=resume,
            keep_checkpoints=config.output.keep_checkpoints, stopping=stopping_criteria(config),
            wandb_kwargs=dict(config.tracking.wandb_kwargs, name=config.name), config=config.to_dict(),
            writers=optional_writers(config, run_dir))
        write_config(config, run_dir)
        if config.league is not None:
            from evo_marl.league.experiment import run_league

            pop, history = run_league(config, env, pop, common)
        elif get_algorithm(config.algo).algo_name == "IPPO":
            from evo_marl.training.on_policy import train_multi_agent_on_policy

            common.pop("net_config")
            pop, history = train_multi_agent_on_policy(env, config.env.id, config.algo, pop, **common)
        else:
            memory = MultiAgentReplayBuffer(t.memory_size, TRAINER_FIELDS, agent_ids=env.agents)
            pop, history = train_multi_agent_off_policy(env, config.env.id, config.algo, pop, memory,
                                                        save_buffer=config.output.save_buffer, **common)
    if config.output.plots:
        make_plots(run_dir, config, pop)
        if config.league is not None:
            from evo_marl.league.plots import plot_league_run

            plot_league_run(run_dir)
    return pop, history, run_dir


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
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{CONFIG_FILE}.tmp"
    tmp.write_text(config.to_yaml())
    tmp.replace(run_dir / CONFIG_FILE)


def make_plots(run_dir: Path, config: ExperimentConfig, population: list | None = None) -> list[Path]:
    """PNG plots of a finished run (fitness, hyperparameters, lineage, and the env's own plots)."""
    from evo_marl.tracking.plots import plot_run

    paths: list[Path] = []
    try:
        paths += plot_run(run_dir)
        if population and config.env.id.startswith("atc/"):
            paths.append(plot_atc_episode(run_dir, config, population))
    except Exception as err:  # plots never lose a finished run
        logger.warning("plotting %s failed: %s: %s", run_dir, type(err).__name__, err)
    return paths


def plot_atc_episode(run_dir: Path, config: ExperimentConfig, population: list) -> Path:
    """Tracks of the best member's evaluation episode: ``<run_dir>/trajectories.png``."""
    from evo_marl.envs.atc.render import plot_trajectories
    from evo_marl.envs.atc.tracks import record_episode
    from evo_marl.training.evaluate_run import best_member

    member = best_member(population)
    member.set_training_mode(False)
    env = make_env(config.env.id, **config.env.kwargs)
    tracks = record_episode(env, lambda obs: member.get_action(obs)[0], seed=config.seed)
    path = run_dir / "trajectories.png"
    plot_trajectories(tracks, path=path, title=f"{config.env.id}: best member {member.index}")
    return path
