"""AgileRL as an optional engine: an evo-marl experiment trained by AgileRL 2.58's own population trainer.

``engine: agilerl`` in a config (or ``run_experiment(config, engine="agilerl")``, or ``engine="agilerl"``
on the train functions) builds AgileRL's population, replay buffer, tournament and mutations from the
same config, feeds it evo-marl's env (``make_env(env.id)``, ``num_envs`` copies in AgileRL's
``AsyncPettingZooVecEnv``), runs ``agilerl.training.train_multi_agent_off_policy`` /
``train_multi_agent_on_policy``, and writes evo-marl's run folder: ``config.yaml``, ``metrics.csv`` and
``generations.csv`` (one record per generation: fitness, hyperparameters, architecture, mutation and
parent), W&B/TensorBoard if switched on, the plots and ``evo-marl report``. The final population is saved
in AgileRL's format under ``<run_dir>/agilerl/`` (``MADDPG.load(path)``).

Translation, so that both engines run the same experiment: ``init_hp`` keys both libraries know go to
AgileRL with evo-marl's defaults for the ones the config leaves out; evo-marl-only keys (``HUBER_DELTA``,
``TARGET_NOISE``, ``SHARE_PARAMS``, ...) are reported in one warning and not used; IPPO's ``LEARN_STEP``
(vector steps in evo-marl) becomes transitions (x ``num_envs``). A flat ``net_config``
(``hidden_size: [a, b, c]``) becomes encoder ``[a, b]`` -> latent ``c`` -> head ``[c]`` without layer norm
(AgileRL's actor needs a hidden layer in both encoder and head, so ``[64, 64]`` gains a third 64 layer);
the encoder/head form is passed as written. ``hp_ranges`` (or evo-marl's default ranges) become AgileRL's
``HyperparameterConfig``; tournament and mutation settings map one to one (the elite is not mutated).

Not available with this engine: resuming (AgileRL has no resumable run state), per-episode env metrics in
evaluations (AgileRL's ``test()`` returns the fitness only, so ``conflict_free_streak`` cannot fire and
is refused) and training scores per member. Seeding: AgileRL draws from the global NumPy/torch RNGs; the
engine seeds them from the run's seed (as AgileRL's own ``Mutations(rand_seed=...)`` does) and restores
their previous state when the run ends.
"""

from __future__ import annotations

import logging
import random
import shutil
from contextlib import contextmanager
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evo_marl.engines.agilerl_config import agilerl_class, build_population
from evo_marl.errors import ConfigError

logger = logging.getLogger(__name__)
TESTED_VERSION = "2.58"
INSTALL_HINT = ("install it with `pip install 'evo-marl[agilerl]'` in a virtual environment with pettingzoo<1.27 "
                "(AgileRL 2.58 pins it; `bash benchmarks/peer/setup_agilerl_venv.sh` builds one)")
CHECKPOINT_DIR = "agilerl"


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


def make_vec_env(env_id: str, num_envs: int, seed: int | None, **env_kwargs: Any):
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


def train(env, env_name: str, algo: str, pop: list, memory=None, *, writers, max_steps: int, evo_steps: int,
          eval_steps: int | None, eval_loop: int, learning_delay: int = 0, tournament=None, mutation=None,
          stopping: list | None = None, target: float | None = None, run_dir: Path | None = None,
          save_population: bool = True, verbose: bool = True) -> tuple[list, list[list[float]]]:
    """Run AgileRL's trainer on AgileRL agents ``pop`` and ``env``, writing evo-marl records through ``writers``.

    ``tournament`` (an AgileRL ``TournamentSelection``, default: size 2 with elitism) is re-created as an
    observed copy with the same settings; ``mutation`` is an AgileRL ``Mutations``. Returns the final,
    evaluated population and every generation's fitnesses, like evo-marl's trainers.
    """
    from evo_marl.algorithms.registry import get_algorithm
    from evo_marl.engines.agilerl_records import GenerationObserver, StopTraining, observed_tournament
    from evo_marl.training.common import build_stopping

    require_agilerl()
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection

    cls = agilerl_class(algo)
    if not pop or not all(isinstance(a, cls) for a in pop):
        raise ConfigError("pop", type(pop[0]).__name__ if pop else pop,
                          f"engine agilerl trains a population of AgileRL {cls.__name__} agents "
                          "(evo_marl.engines.agilerl.build_population or agilerl's create_population)")
    if tournament is not None and type(tournament) is not TournamentSelection:
        raise ConfigError("tournament", type(tournament).__name__, "engine agilerl takes AgileRL's TournamentSelection")
    if mutation is not None and not isinstance(mutation, Mutations):
        raise ConfigError("mutation", type(mutation).__name__, "engine agilerl takes AgileRL's Mutations")
    observer = GenerationObserver(pop, writers, build_stopping(target, stopping), max_steps,
                                  get_algorithm(algo).hp_names)
    size, elitism = (tournament.tournament_size, tournament.elitism) if tournament is not None else (2, True)
    selection = observed_tournament(observer, size, elitism, len(pop))
    common = dict(max_steps=max_steps, evo_steps=evo_steps, eval_steps=eval_steps, eval_loop=eval_loop,
                  selection_strategy=selection, mutation=mutation, verbose=verbose)
    try:
        if get_algorithm(algo).algo_name == "IPPO":
            from agilerl.training.train_multi_agent_on_policy import train_multi_agent_on_policy

            train_multi_agent_on_policy(env, env_name, algo.upper(), pop, **common)
        else:
            from agilerl.components.replay_buffer import ReplayBuffer
            from agilerl.training.train_multi_agent_off_policy import train_multi_agent_off_policy

            train_multi_agent_off_policy(env, env_name, algo.upper(), pop, memory or ReplayBuffer(100_000),
                                         learning_delay=learning_delay, **common)
    except StopTraining as stop:
        if stop.reason:
            logger.info("stopping after generation %d: %s", observer.generation, stop.reason)
    finally:
        writers.close()
        env.close()
    if save_population and run_dir is not None:
        save_agilerl_population(pop, Path(run_dir) / CHECKPOINT_DIR)
    return pop, observer.history


def save_agilerl_population(pop: list, folder: Path) -> list[Path]:
    """Each member as ``member_<k>.pt`` in AgileRL's checkpoint format (``<Algo>.load(path)`` reads it)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, agent in enumerate(pop):
        path = folder / f"member_{k}.pt"
        agent.save_checkpoint(str(path))
        paths.append(path)
    return paths


def run_experiment(config, run_dir: Path, writers: list, stopping: list,
                   verbose: bool = True) -> tuple[list, list[list[float]]]:
    """Train ``config`` (an ``ExperimentConfig``) with AgileRL; the run folder's files go to ``run_dir``.

    Call :func:`prepare_run` first (``evo_marl.experiment.run_experiment`` does, then writes ``config.yaml``).
    ``writers``: extra metric writers besides CSV and W&B; ``stopping``: evo-marl stopping criteria.
    """
    from evo_marl.training.common import build_writers, root_entropy
    from evo_marl.training.runner import derived_seed
    from agilerl.components.replay_buffer import ReplayBuffer
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection

    entropy = root_entropy(config.seed)
    seeded = config.seed is not None
    t, m = config.training, config.mutation
    with global_rng_seeded(derived_seed(entropy, 8) if seeded else None):
        env = make_vec_env(config.env.id, config.env.num_envs, derived_seed(entropy, 1, 0) if seeded else None,
                           **config.env.kwargs)
        try:
            pop = build_population(config.algo, env, config.net_config, config.init_hp, config.hp_ranges,
                                   config.population_size, config.env.num_envs,
                                   np.random.SeedSequence(entropy, spawn_key=(7,)))
        except Exception:
            env.close()
            raise
        mutation = Mutations(no_mutation=m.no_mutation, architecture=m.architecture, new_layer_prob=m.new_layer_prob,
                             parameters=m.parameters, activation=m.activation, rl_hp=m.rl_hp, mutation_sd=m.mutation_sd,
                             activation_selection=list(m.activation_selection), mutate_elite=False,
                             rand_seed=derived_seed(entropy, 4) if seeded else None)
        tournament = TournamentSelection(config.tournament.tournament_size, config.tournament.elitism,
                                         config.population_size)
        group = build_writers(Path(run_dir), None, config.tracking.wandb,
                              dict(config.tracking.wandb_kwargs, name=config.name), writers, config.to_dict())
        return train(env, config.env.id, config.algo, pop, ReplayBuffer(t.memory_size), writers=group,
                     max_steps=t.max_steps, evo_steps=t.evo_steps, eval_steps=t.eval_steps, eval_loop=t.eval_loop,
                     learning_delay=t.learning_delay, tournament=tournament, mutation=mutation,
                     stopping=stopping, target=t.stopping.target, run_dir=Path(run_dir),
                     save_population=config.output.checkpoint, verbose=verbose)


def prepare_run(config, run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Check that ``config`` can run on this engine and clear ``run_dir`` (before anything is written there).

    Raises:
        ConfigError: AgileRL is missing; ``resume`` (not possible with AgileRL); ``conflict_free_streak`` (needs
            env metrics AgileRL's evaluation does not return); ``run_dir`` holds an earlier run's checkpoints
            and ``overwrite`` is False.
    """
    from evo_marl.training import checkpoint as ckpt

    require_agilerl()
    if resume:
        raise ConfigError("resume", True, "engine agilerl cannot resume a run (AgileRL keeps no resumable run "
                          "state); start a new run or use engine evo-marl")
    streak = config.training.stopping.conflict_free_streak
    if streak is not None:
        raise ConfigError("training.stopping.conflict_free_streak", streak,
                          "needs the env's episode metrics, which AgileRL's evaluation does not return; set it to "
                          "null for engine agilerl (target and convergence_target work)")
    old = ckpt.generation_dirs(run_dir) + ([run_dir / CHECKPOINT_DIR] if (run_dir / CHECKPOINT_DIR).exists() else [])
    if old and not overwrite:
        raise ConfigError("run_dir", str(run_dir), "already holds checkpoints of an earlier run: pass overwrite=True "
                          "(`--overwrite`) to replace it, or choose another name")
    for path in old:
        shutil.rmtree(path)
    for name in ("metrics.csv", "generations.csv"):
        (run_dir / name).unlink(missing_ok=True)


def train_from_api(env, env_name: str, algo: str, pop: list, memory=None, *, INIT_HP: dict | None = None,
                   MUT_P: dict | None = None, max_steps: int, evo_steps: int, eval_steps: int | None,
                   eval_loop: int, learning_delay: int = 0, target: float | None = None, tournament=None,
                   mutation=None, checkpoint: bool | int | None = True, run_dir: str | Path | None = None,
                   overwrite_checkpoints: bool = False, wb: bool = False, verbose: bool = True,
                   seed: int | None = None, stopping: list | None = None, writers: list | None = None,
                   wandb_kwargs: dict | None = None, config: dict | None = None) -> tuple[list, list[list[float]]]:
    """``train_multi_agent_off_policy(..., engine="agilerl")`` / ``train_multi_agent_on_policy(...)``.

    ``pop``: AgileRL agents (AgileRL's ``create_population`` or :func:`build_population`); ``env``: an AgileRL
    vector env (``AsyncPettingZooVecEnv``) or a PettingZoo ``ParallelEnv``; ``memory``: AgileRL's
    ``ReplayBuffer`` (off-policy; default one of 100k); ``tournament`` / ``mutation``: AgileRL's objects (by
    default from ``INIT_HP`` ``TOURN_SIZE``/``ELITISM`` and ``MUT_P``). The run folder gets evo-marl's
    ``metrics.csv``/``generations.csv`` (and W&B with ``wb``) and the final population in AgileRL's format.
    ``seed`` seeds AgileRL's global RNGs for the run (the agents' initial weights are the caller's).
    """
    from evo_marl.envs.vector import VectorEnv
    from evo_marl.training.common import MUT_P_KEYS, build_writers, resolve_run_dir

    require_agilerl()
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection

    if isinstance(env, VectorEnv):
        raise ConfigError("env", type(env).__name__, "engine agilerl steps an AgileRL vector env or a PettingZoo "
                          "ParallelEnv: use evo_marl.engines.agilerl.make_vec_env(env_id, num_envs, seed)")
    hp = dict(INIT_HP or {})
    if tournament is None:
        tournament = TournamentSelection(int(hp.get("TOURN_SIZE", 2)), bool(hp.get("ELITISM", True)), len(pop))
    if mutation is None:
        kwargs = {MUT_P_KEYS.get(k, k): v for k, v in (MUT_P or {}).items()}
        defaults = dict(no_mutation=0.4, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0.0,
                        rl_hp=0.2, mutate_elite=False)
        mutation = Mutations(**{**defaults, **kwargs})
    path = resolve_run_dir(run_dir, env_name, algo, False, overwrite_checkpoints)
    group = build_writers(path, None, wb, wandb_kwargs, writers, config)
    with global_rng_seeded(seed):
        return train(env, env_name, algo, pop, memory, writers=group, max_steps=max_steps, evo_steps=evo_steps,
                     eval_steps=eval_steps, eval_loop=eval_loop, learning_delay=learning_delay, tournament=tournament,
                     mutation=mutation, stopping=stopping, target=target, run_dir=path,
                     save_population=bool(checkpoint) or checkpoint is None, verbose=verbose)
