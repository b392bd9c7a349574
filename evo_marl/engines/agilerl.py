"""AgileRL as an optional engine: an evo-marl experiment trained by AgileRL 2.58's own population trainer.

``engine: agilerl`` in a config (``evo-marl train CONFIG --engine agilerl``, ``run_experiment(config,
engine="agilerl")``), or ``engine="agilerl"`` on ``train_multi_agent_off_policy`` /
``train_multi_agent_on_policy`` with AgileRL agents, runs ``agilerl.training.train_multi_agent_off_policy``
/ ``train_multi_agent_on_policy`` on evo-marl's envs (``num_envs`` copies of ``evo_marl.make_env(env.id)``
in AgileRL's ``AsyncPettingZooVecEnv``) and writes evo-marl's run folder: ``config.yaml``, ``metrics.csv``
and ``generations.csv`` (per generation: fitness, hyperparameters, architecture, mutation, parent), W&B /
TensorBoard when switched on, the plots and ``evo-marl report``. The final population is saved in AgileRL's
format as ``<run_dir>/agilerl/member_<k>.pt`` (``MATD3.load(path)``).

The same experiment on both engines: AgileRL gets evo-marl's typed hyperparameters (its defaults for what
the config leaves out; names AgileRL does not take are reported once), the same search space (ranges on
a ``horizon`` scale are left out: AgileRL grows and shrinks the value itself), tournament and mutation
settings one to one with the elite kept unmutated, and the network from ``net_config``
(:func:`~evo_marl.engines.agilerl_config.agilerl_net_config`). ``hp_init: sampled`` draws the same initial
hyperparameters as evo-marl's engine for the same seed.

Not available with this engine (each refused with a ConfigError naming the field): resuming (AgileRL keeps
no resumable run state), ``precision: bfloat16``, ``fitness_window`` > 1, ``fitness_metric`` other than
``return`` and ``eval_set: fixed`` (AgileRL's tournament ranks by the last evaluation's return, on its env's
continuing streams), the env family's ``stopping.criteria`` (they read episode metrics, which AgileRL's
``test()`` does not return), and
``selection.strategy: multi_frequency`` or ``ttest`` and ``selection.burn_in_steps`` (AgileRL selects by tournament
from the first generation; refused when the config is read). ``target`` and ``convergence_target`` work. Records
have no training score or losses (AgileRL clears its training scores before selection).
Seeding: AgileRL draws from the global NumPy/torch/``random`` RNGs; with a seed the engine seeds them for
the run (as AgileRL's ``Mutations(rand_seed=...)`` does) and restores their previous state afterwards, so
the same seed gives the same run.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evo_marl.engines.agilerl_config import agilerl_class, build_population
from evo_marl.errors import ConfigError
from evo_marl.hpo.fitness import RETURN

logger = logging.getLogger(__name__)
TESTED_VERSION = "2.58"
INSTALL_HINT = ("install it with `pip install 'evo-marl[agilerl]'` in a virtual environment with pettingzoo<1.27 "
                "(AgileRL 2.58 pins it; `bash benchmarks/peer/setup_agilerl_venv.sh` builds one)")
CHECKPOINT_DIR = "agilerl"
DEFAULT_MUTATION = dict(no_mutation=0.4, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0.0,
                        rl_hp=0.2)


def require_agilerl() -> str:
    """AgileRL's version, or a :class:`ConfigError` that says how to install it."""
    try:
        import agilerl  # noqa: F401
    except ImportError as err:
        raise ConfigError("engine", "agilerl", f"needs the agilerl package, which is missing ({err}); "
                          f"{INSTALL_HINT}") from err
    version = metadata.version("agilerl")
    if not version.startswith(TESTED_VERSION):
        logger.warning("engine agilerl is tested with AgileRL %s.x; this is %s", TESTED_VERSION, version)
    return version


def make_vec_env(env_id: str, num_envs: int, seed: int | None = None, **env_kwargs: Any):
    """AgileRL's ``AsyncPettingZooVecEnv`` over ``num_envs`` copies of ``evo_marl.make_env(env_id)``, reset once
    with ``seed`` (AgileRL's trainer resets it without one, so the sub-envs' streams continue from there)."""
    from agilerl.vector.pz_async_vec_env import AsyncPettingZooVecEnv

    from evo_marl.envs import make_env

    env = AsyncPettingZooVecEnv([partial(make_env, env_id, **env_kwargs) for _ in range(num_envs)])
    env.reset(seed=seed)
    return env


@contextmanager
def global_rng_seeded(seed: int | None):
    """Seed the global RNGs AgileRL draws from (NumPy, torch, ``random``) and restore them afterwards."""
    if seed is None:
        yield
        return
    states = np.random.get_state(), torch.get_rng_state(), random.getstate()
    np.random.seed(seed)  # AgileRL samples tournaments, replay batches and minibatch orders globally
    torch.manual_seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(states[0])
        torch.set_rng_state(states[1])
        random.setstate(states[2])


def check_settings(settings, stopping_names: list[str] = ()) -> None:
    """Refuse what AgileRL's trainer cannot do (see the module docstring)."""
    if settings.resume:
        raise ConfigError("resume", True, "engine agilerl cannot resume a run (AgileRL keeps no resumable run "
                          "state); start a new run or use engine evo-marl")
    if settings.fitness_window != 1:
        raise ConfigError("training.fitness_window", settings.fitness_window,
                          "must be 1 with engine agilerl (AgileRL's tournament ranks by the last evaluation)")
    if settings.fitness_metric != RETURN:
        raise ConfigError("training.fitness_metric", settings.fitness_metric, "must be return with engine agilerl "
                          "(AgileRL's evaluation returns no episode metrics)")
    if settings.precision != "float32":
        raise ConfigError("training.precision", settings.precision, "must be float32 with engine agilerl (AgileRL "
                          "learns in float32)")
    if settings.eval_set != "fresh":
        raise ConfigError("training.eval_set", settings.eval_set, "must be fresh with engine agilerl (AgileRL "
                          "evaluates on its env's continuing episode streams)")
    if stopping_names:
        raise ConfigError("training.stopping.criteria", sorted(stopping_names), "the env family's criteria read "
                          "episode metrics, which AgileRL's evaluation does not return; use target or "
                          "convergence_target with engine agilerl")


def prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse to mix with an earlier run's checkpoints unless ``overwrite`` (then remove them and its metrics)."""
    from evo_marl.run_folder import generation_dirs

    old = generation_dirs(run_dir) + ([run_dir / CHECKPOINT_DIR] if (run_dir / CHECKPOINT_DIR).exists() else [])
    if old and not overwrite:
        raise ConfigError("run_dir", str(run_dir), "already holds checkpoints of an earlier run: pass overwrite=True "
                          "(`--overwrite`) to replace it, or choose another name")
    for path in old:
        shutil.rmtree(path)


def default_operators(population_size: int, init_hp: dict | None = None, mutation_kwargs: dict | None = None,
                      seed: int | None = None):
    """AgileRL's ``TournamentSelection`` (``TOURN_SIZE``/``ELITISM`` from ``init_hp``) and ``Mutations``
    (``mutation_kwargs`` over evo-marl's default probabilities; the elite is never mutated)."""
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection

    hp = dict(init_hp or {})
    selection = TournamentSelection(int(hp.get("TOURN_SIZE", min(2, population_size))), bool(hp.get("ELITISM", True)),
                                    population_size)
    with global_rng_seeded(seed):  # Mutations(rand_seed=...) seeds the global RNGs itself
        mutation = Mutations(**{**DEFAULT_MUTATION, "mutate_elite": False, "rand_seed": seed,
                                **(mutation_kwargs or {})})
    return selection, mutation


def train_population(env, population: list, settings, *, memory=None, selection=None, mutation=None,
                     stopping: list | tuple = (), writers: list | tuple = (), keep: bool = False,
                     memory_size: int = 100_000,
                     on_start: Callable[[Path], None] | None = None) -> tuple[list, list[list[float]]]:
    """evo-marl's ``train_population`` with AgileRL's trainer: AgileRL agents, env, buffer and operators.

    Args:
        env: an AgileRL vector env (:func:`make_vec_env`) or a PettingZoo ``ParallelEnv``.
        population: AgileRL agents of one algorithm. settings: evo-marl's ``RunSettings``.
        memory: AgileRL's ``ReplayBuffer`` (off-policy; default: one of ``memory_size``).
        selection: AgileRL's ``TournamentSelection`` (its size and elitism are used). mutation: AgileRL's
            ``Mutations``. stopping: evo-marl stopping criteria. writers: extra evo-marl metric writers.
        keep: no selection (evo-marl's ``selection.strategy: none``; pass mutations that never mutate).
    """
    from agilerl.components.replay_buffer import ReplayBuffer
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection

    from evo_marl.algorithms.registry import get_algorithm
    from evo_marl.engines.agilerl_records import GenerationObserver, StopTraining, observed_selection
    from evo_marl.envs.vector import VectorEnv
    from evo_marl.training.trainer import build_writers, resolve_run_dir

    require_agilerl()
    check_settings(settings)
    if not population:
        raise ConfigError("pop", population, "must contain at least one member")
    algo = type(population[0]).__name__
    if algo not in ("MADDPG", "MATD3", "IPPO") or not all(isinstance(a, agilerl_class(algo)) for a in population):
        raise ConfigError("pop", type(population[0]).__name__, "engine agilerl trains AgileRL MADDPG, MATD3 or IPPO "
                          "agents (evo_marl.engines.agilerl_config.build_population or agilerl's create_population)")
    if isinstance(env, VectorEnv):
        raise ConfigError("env", type(env).__name__, "engine agilerl steps an AgileRL vector env or a PettingZoo "
                          "ParallelEnv: use evo_marl.engines.agilerl.make_vec_env(env_id, num_envs, seed)")
    if selection is not None and type(selection) is not TournamentSelection:
        raise ConfigError("tournament", type(selection).__name__, "engine agilerl takes AgileRL's TournamentSelection")
    if mutation is not None and not isinstance(mutation, Mutations):
        raise ConfigError("mutation", type(mutation).__name__, "engine agilerl takes AgileRL's Mutations")
    if selection is None or mutation is None:
        default_selection, default_mutation = default_operators(len(population), seed=_seed(settings, 4))
        selection, mutation = selection or default_selection, mutation or default_mutation
    run_dir = resolve_run_dir(settings.run_dir, settings.env_name, algo, False, settings.overwrite)
    prepare_run_dir(run_dir, settings.overwrite)
    if on_start is not None:
        on_start(run_dir)
    observer = GenerationObserver(population, build_writers(run_dir, None, settings, list(writers)), list(stopping),
                                  settings.max_steps, get_algorithm(algo).Hyperparameters.names())
    observed = observed_selection(observer, selection.tournament_size, selection.elitism, len(population), keep)
    common = dict(max_steps=settings.max_steps, evo_steps=settings.evo_steps, eval_steps=settings.eval_steps,
                  eval_loop=settings.eval_loop, selection_strategy=observed, mutation=mutation,
                  verbose=settings.verbose)
    try:
        with global_rng_seeded(_seed(settings, 8)):
            if get_algorithm(algo).on_policy:
                from agilerl.training.train_multi_agent_on_policy import train_multi_agent_on_policy

                train_multi_agent_on_policy(env, settings.env_name, algo, population, **common)
            else:
                from agilerl.training.train_multi_agent_off_policy import train_multi_agent_off_policy

                buffer = memory or ReplayBuffer(memory_size)
                train_multi_agent_off_policy(env, settings.env_name, algo, population, buffer,
                                             learning_delay=settings.learning_delay, **common)
    except StopTraining as stop:
        if stop.reason:
            logger.info("stopping after generation %d: %s", observer.generation, stop.reason)
    finally:
        observer.writers.close()
        env.close()
    if settings.checkpoint:
        save_population(population, run_dir / CHECKPOINT_DIR)
    return population, observer.history


def _seed(settings, *key: int) -> int | None:
    from evo_marl.seeding import derived_seed
    from evo_marl.training.trainer import root_entropy

    return None if settings.seed is None else derived_seed(root_entropy(settings.seed), *key)


def save_population(population: list, folder: Path) -> list[Path]:
    """Each member as ``member_<k>.pt`` in AgileRL's checkpoint format (``<Algo>.load(path)`` reads it)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, agent in enumerate(population):
        path = folder / f"member_{k}.pt"
        agent.save_checkpoint(str(path))
        paths.append(path)
    return paths


def run_experiment(config, settings, stopping: list, writers: list,
                   on_start: Callable[[Path], None] | None = None) -> tuple[list, list[list[float]]]:
    """Train ``config`` (an ``ExperimentConfig``) with AgileRL under ``settings`` (its ``RunSettings``).

    Called by ``evo_marl.experiment.run_experiment`` after :func:`check_settings` passed; ``on_start(run_dir)``
    runs once the run folder is ready (it writes ``config.yaml``). ``stopping``: generic evo-marl criteria.
    """
    from agilerl.components.replay_buffer import ReplayBuffer
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection

    require_agilerl()
    m, keep = config.mutation, config.selection.strategy == "none"
    with config.env.naming_options():
        env = make_vec_env(config.env.id, config.env.num_envs, _seed(settings, 1, 0), **config.env.kwargs)
    probabilities = dict(no_mutation=1.0, architecture=0.0, parameters=0.0, activation=0.0, rl_hp=0.0) if keep \
        else dict(no_mutation=m.no_mutation, architecture=m.architecture, parameters=m.parameters,
                  activation=m.activation, rl_hp=m.rl_hp)
    try:
        with global_rng_seeded(_seed(settings, 8)):  # initial weights come from torch's global RNG
            population = build_population(config.algo, env, config.net_config, config.init_hp, config.search_space(),
                                          config.population_size, config.env.num_envs, config.seed, config.hp_init)
            mutation = Mutations(**probabilities, new_layer_prob=m.new_layer_prob, mutation_sd=m.mutation_sd,
                                 activation_selection=list(m.activation_selection), mutate_elite=False,
                                 rand_seed=_seed(settings, 4))  # it seeds the global RNGs: inside the context
    except Exception:
        env.close()
        raise
    selection = TournamentSelection(min(config.selection.tournament_size, config.population_size),
                                    config.selection.elitism, config.population_size)
    memory = None if config.training.memory_size is None else ReplayBuffer(config.training.memory_size)
    return train_population(env, population, settings, memory=memory, selection=selection, mutation=mutation,
                            stopping=stopping, writers=writers, keep=keep, on_start=on_start)


def train_from_api(env, env_name: str, algo: str, pop: list, memory=None, *, INIT_HP: dict | None = None,
                   mutation_kwargs: dict | None = None, tournament=None, mutation=None, target: float | None = None,
                   stopping: list | None = None, writers: list | None = None,
                   **settings: Any) -> tuple[list, list[list[float]]]:
    """``train_multi_agent_off_policy(..., engine="agilerl")`` / ``train_multi_agent_on_policy(...)``.

    ``pop``: AgileRL agents (AgileRL's ``create_population`` or ``agilerl_config.build_population``); ``env``:
    an AgileRL vector env (:func:`make_vec_env`) or a PettingZoo ``ParallelEnv``; ``memory``: AgileRL's
    ``ReplayBuffer`` (off-policy; default one of 100k); ``tournament`` / ``mutation``: AgileRL's objects
    (default: from ``INIT_HP`` ``TOURN_SIZE``/``ELITISM`` and ``MUT_P`` as keyword names). ``settings``: the
    keyword arguments of ``RunSettings`` (``max_steps``, ``evo_steps``, ``run_dir``, ``seed``, ...).
    ``seed`` seeds AgileRL's global RNGs for the run (the agents' initial weights are the caller's).
    """
    from evo_marl.stopping import TargetFitness
    from evo_marl.training.settings import RunSettings

    require_agilerl()
    if pop and str(algo).upper() != type(pop[0]).__name__:
        raise ConfigError("algo", algo, f"must match the population's algorithm ({type(pop[0]).__name__})")
    run = RunSettings(env_name=env_name, **settings)
    if tournament is None or mutation is None:
        default_selection, default_mutation = default_operators(len(pop), INIT_HP, mutation_kwargs, _seed(run, 4))
        tournament, mutation = tournament or default_selection, mutation or default_mutation
    criteria = ([TargetFitness(target)] if target is not None else []) + list(stopping or [])
    return train_population(env, pop, run, memory=memory, selection=tournament, mutation=mutation,
                            stopping=criteria, writers=writers or [])
