"""``train_population``: the one entry point behind the Python API and the CLI.

It wires a population, its batched env and a typed :class:`RunSettings` into an :class:`EvolutionRunner`:
seeding from one root seed, the population's widened env, the run folder, the collection phase the
algorithm needs (``on_policy``: own rollouts; else the shared replay buffer), resume, writers, stopping.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.algorithms.spaces import space_mismatch, space_to_dict
from evo_marl.distributed.backend import resolve_backend
from evo_marl.distributed.ray_phase import RayPhase
from evo_marl.envs.vector import VectorEnv
from evo_marl.errors import CheckpointError, ConfigError
from evo_marl.hpo.fitness import check_metric_reported
from evo_marl.hpo.mutation import Mutations
from evo_marl.hpo.tournament import TournamentSelection
from evo_marl.run_folder import prepare_run_folder, run_records
from evo_marl.seeding import child_rng, seed_sequence
from evo_marl.stopping import StoppingCriterion
from evo_marl.tracking.writers import CSVWriter, LogWriter, WriterGroup
from evo_marl.training.phases import build_phase
from evo_marl.training.runner import EvolutionRunner
from evo_marl.training.settings import RunSettings

logger = logging.getLogger(__name__)


def root_entropy(seed: int | None) -> int:
    """The run's root entropy (fresh OS entropy when ``seed`` is None; it is saved with checkpoints)."""
    return int(seed_sequence(seed).entropy)


def seed_components(entropy: int, population: list, selection, mutation, memory=None) -> None:
    """Derive every random stream of a fresh run from its root entropy.

    Untrained members are rebuilt with their own child seeds, so ``seed`` alone fixes the initial weights.
    """
    selection.rng = child_rng(entropy, 3)
    mutation.rng = child_rng(entropy, 4)
    if memory is not None:
        memory.reseed(child_rng(entropy, 5))
    children = np.random.SeedSequence(entropy, spawn_key=(7,)).spawn(len(population))
    for k, member in enumerate(population):
        if member.steps[-1] == 0 and member.learn_counter == 0 and not member.fitness:
            population[k] = type(member)(**member.init_kwargs(), index=member.index, seed=children[k])
        else:
            member.reseed(children[k])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def resolve_run_dir(run_dir: str | Path | None, env_name: str, algo: str, resume: bool, overwrite: bool,
                    checkpoint: bool = True) -> Path:
    """The run folder, ready to write into (:func:`~evo_marl.run_folder.prepare_run_folder`).

    An explicit folder that holds another run's results needs ``resume`` or ``overwrite``; a default one
    (``populations/<env>_<algo>``) gets a numeric suffix instead of touching an earlier run.
    """
    path = Path(run_dir) if run_dir is not None else Path("populations") / _slug(f"{env_name}_{algo}")
    if run_dir is None and not resume and not overwrite and run_records(path):
        n = 2
        while run_records(path.with_name(f"{path.name}_{n}")):
            n += 1
        path = path.with_name(f"{path.name}_{n}")
    return prepare_run_folder(path, resume, overwrite, checkpoint)


def run_signature(env_name: str, population: list) -> dict[str, Any]:
    """The facts a checkpoint must share with the run that resumes it."""
    lead = population[0]
    return {"algo": lead.algo_name, "env_name": env_name, "population_size": len(population),
            "num_envs": lead.num_envs, "agent_ids": list(lead.agent_ids),
            "observation_spaces": {a: space_to_dict(s) for a, s in lead.observation_spaces.items()},
            "action_spaces": {a: space_to_dict(s) for a, s in lead.action_spaces.items()}}


class EnvStates:
    """The ``state_dict()`` of a run's training and evaluation envs, as one checkpoint component."""

    state_optional = True  # written by a version without it: the run resumes with a warning

    def __init__(self, *envs: VectorEnv):
        self.envs = envs

    def state_dict(self) -> dict[str, Any]:
        return {"envs": [env.state_dict() for env in self.envs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("envs") if isinstance(state, dict) else None
        if not isinstance(saved, list) or len(saved) != len(self.envs):
            raise CheckpointError(f"components.env={state!r:.80}: must hold the state of {len(self.envs)} envs")
        for env, env_state in zip(self.envs, saved):
            env.load_state_dict(env_state)


def population_env(env: Any, population: list, widen: bool = True) -> VectorEnv:
    """The batched env for the whole population (widened from a per-member env, or used as is), checked
    against the population's agents and spaces (``widen=False``: only checked, and returned as given)."""
    if not isinstance(env, VectorEnv):
        raise ConfigError("env", type(env).__name__,
                          "must be an evo_marl VectorEnv; build one with evo_marl.make_vec_env(...)")
    lead = population[0]
    if any(type(m) is not type(lead) for m in population):
        raise ConfigError("pop", sorted({m.algo_name for m in population}), "must hold members of one algorithm")
    per_member = lead.num_envs
    if any(m.num_envs != per_member for m in population):
        raise ConfigError("population.num_envs", [m.num_envs for m in population], "must be equal for every member")
    if list(env.agents) != list(lead.agent_ids):
        raise ConfigError("env.agents", list(env.agents),
                          f"must be the population's agent ids {list(lead.agent_ids)} (built for another env?)")
    for agent in lead.agent_ids:
        mismatch = space_mismatch(lead, env, agent)
        if mismatch is not None:
            kind, mine, theirs = mismatch
            raise ConfigError(f"env.single_{kind}_space({agent!r})", theirs,
                              f"must equal the population's {kind} space {mine}")
    wanted = per_member * len(population)
    if env.num_envs == wanted or (not widen and env.num_envs == per_member):
        return env
    if env.num_envs == per_member:
        return env.spawn(wanted)
    raise ConfigError("env.num_envs", env.num_envs,
                      f"must be num_envs ({per_member}, as given to create_population) or population size x "
                      f"num_envs ({len(population)} x {per_member} = {wanted})")


def build_writers(run_dir: Path, resume_after: int | None, settings: RunSettings, extra: list) -> WriterGroup:
    """CSV and log writers, W&B and MLflow when switched on (their failures only warn), the caller's writers."""
    writers: list = [CSVWriter(run_dir, resume_after=resume_after), LogWriter()]
    if settings.wandb:
        try:
            from evo_marl.tracking.wandb_writer import WandbWriter

            writers.append(WandbWriter(run_dir=run_dir, config=settings.config, **settings.wandb_kwargs))
        except Exception as err:  # W&B never stops training
            logger.warning("W&B logging is off: %s: %s", type(err).__name__, err)
    if settings.mlflow:
        try:
            from evo_marl.tracking.mlflow_writer import MLflowWriter

            writers.append(MLflowWriter(run_dir, config=settings.config, resume=resume_after is not None,
                                        **settings.mlflow_kwargs))
        except Exception as err:  # MLflow never stops training
            logger.warning("MLflow logging is off: %s: %s", type(err).__name__, err)
    return WriterGroup(writers + list(extra))


def train_population(env: Any, population: list, settings: RunSettings, *, memory=None, selection=None,
                     mutation: Mutations | None = None, stopping: list[StoppingCriterion] | tuple = (),
                     writers: list | tuple = (), phase: Callable | None = None,
                     components: dict[str, Any] | None = None,
                     on_start: Callable[[Path], None] | None = None,
                     backend: Any = None) -> tuple[list, list[list[float]]]:
    """Train and evolve ``population`` (in place) on ``env``; returns ``(population, fitness history)``.

    Args:
        env: an evo-marl ``VectorEnv`` with ``num_envs`` or ``population x num_envs`` sub-envs.
        population: members of one algorithm (``create_population``).
        settings: the run's :class:`RunSettings`.
        memory: the shared ``MultiAgentReplayBuffer`` (off-policy algorithms only).
        selection: a selection strategy (default: ``TournamentSelection(2, elitism=True)``).
        mutation: a :class:`Mutations` (default: its defaults).
        stopping: stopping criteria. writers: extra metric writers.
        phase: builds the collect-and-learn phase, ``phase(members, vec_env, settings, entropy)`` (default: the
            algorithm's own; a league passes its own). components: ``name -> object`` with ``state_dict()`` /
            ``load_state_dict()`` saved in every checkpoint manifest and restored on resume (a league's table).
        on_start: called with the run folder once everything is checked (and a resume loaded), before the
            first generation (the CLI writes ``config.yaml`` there).
        backend: where generations run: ``None``/``"local"`` (this process, the reference), ``"ray"`` or a
            :class:`~evo_marl.distributed.RayBackend` (the population split over Ray actors; selection,
            mutation, checkpoints and writers stay here). Same seed and worker count, same history.

    Raises:
        ConfigError / EnvError / CheckpointError: bad input, found before any training; StorageError: the run
        folder cannot be written (nothing half-written is left behind).
    """
    if not population:
        raise ConfigError("pop", population, "must contain at least one member")
    for criterion in stopping:
        if not isinstance(criterion, StoppingCriterion):
            raise ConfigError("stopping", criterion, "must be a list of StoppingCriterion objects")
    selection = selection or TournamentSelection(min(2, len(population)), True, len(population),
                                                 eval_loop=settings.fitness_window)
    mutation = mutation or Mutations()
    names = env.episode_metric_names() if hasattr(env, "episode_metric_names") else None
    check_metric_reported("training.fitness_metric", settings.fitness_metric, names)
    size = getattr(selection, "population_size", len(population))
    if size != len(population):
        raise ConfigError("selection.population_size", size, f"must equal the population's size ({len(population)})")
    entropy = root_entropy(settings.seed)
    members = list(population)
    distributed = resolve_backend(backend)
    if distributed is None:
        vec_env = population_env(env, members)
        phase = phase(members, vec_env, settings, entropy) if phase is not None else \
            build_phase(members, vec_env, memory, settings, entropy)
        eval_env = vec_env.spawn(settings.eval_loop).for_evaluation()
        if vec_env.state_dict():  # e.g. the step counts a curriculum reads: checkpoints carry them
            components = {**(components or {}), "env": EnvStates(vec_env, eval_env)}
    elif phase is not None:
        raise ConfigError("backend", "ray", "runs the population's own collection phase only, not a custom phase "
                                            "(such as a league's): use the local backend")
    else:  # the workers build their own envs and evaluate there; the phase's state goes into checkpoints
        phase = RayPhase(distributed, population_env(env, members, widen=False), members, memory, settings, entropy)
        eval_env, components = None, {**(components or {}), "ray": phase}
    run_dir = resolve_run_dir(settings.run_dir, settings.env_name, members[0].algo_name, settings.resume,
                              settings.overwrite, settings.checkpoint)
    runner = EvolutionRunner(members, selection, mutation, eval_env, settings, run_dir,
                             run_signature(settings.env_name, members), list(stopping), writers=None,
                             entropy=entropy, memory=memory, components=components)
    resumed = settings.resume and runner.resume()
    if settings.seed is not None and not resumed:  # a resume without a checkpoint starts as a fresh run would
        seed_components(entropy, members, selection, mutation, memory)
    runner.writers = build_writers(run_dir, runner.generation if resumed else None, settings, list(writers))
    phase.entropy = runner.entropy  # a resumed run continues the saved run's streams
    if on_start is not None:
        on_start(run_dir)
    try:
        members, history = runner.run(phase)
    finally:
        if hasattr(phase, "close"):
            phase.close()
    population[:] = members
    return population, history
