"""Set-up shared by the trainers: seeding, run folders, default selection/mutation, writers, stopping."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.algorithms.spaces import space_to_dict
from evo_marl.errors import ConfigError
from evo_marl.hpo.mutation import Mutations
from evo_marl.hpo.tournament import TournamentSelection
from evo_marl.seeding import seed_sequence
from evo_marl.training import checkpoint as ckpt
from evo_marl.training.stopping import StoppingCriterion, TargetFitness
from evo_marl.tracking.writers import CSVWriter, LogWriter, WriterGroup

logger = logging.getLogger(__name__)
MUT_P_KEYS = {"NO_MUT": "no_mutation", "ARCH_MUT": "architecture", "NEW_LAYER": "new_layer_prob",
              "PARAMS_MUT": "parameters", "ACT_MUT": "activation", "RL_HP_MUT": "rl_hp", "MUT_SD": "mutation_sd",
              "RAND_SEED": "rand_seed", "MUTATE_ELITE": "mutate_elite"}


def root_entropy(seed: int | None) -> int:
    """The run's root entropy (fresh OS entropy when ``seed`` is None; it is saved with checkpoints)."""
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
        raise ConfigError("seed", seed, "must be None or a non-negative integer")
    return int(seed_sequence(seed).entropy)


def child_rng(entropy: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=tuple(key)))


def default_tournament(population: list, init_hp: dict, eval_loop: int) -> TournamentSelection:
    return TournamentSelection(tournament_size=int(init_hp.get("TOURN_SIZE", 2)),
                               elitism=bool(init_hp.get("ELITISM", True)), population_size=len(population),
                               eval_loop=eval_loop)


def mutations_from_mut_p(mut_p: dict[str, Any] | None) -> Mutations:
    """A :class:`Mutations` from an AgileRL-style ``MUT_P`` dict (upper-case keys) or keyword names."""
    kwargs = {}
    for key, value in (mut_p or {}).items():
        name = MUT_P_KEYS.get(key, key if key.islower() else None)
        if name is None:
            raise ConfigError(f"MUT_P.{key}", value, f"unknown mutation setting; valid keys are {sorted(MUT_P_KEYS)}")
        kwargs[name] = value
    return Mutations(**kwargs)


def seed_components(entropy: int, population: list, tournament, mutation, memory=None) -> None:
    """Derive every random stream of a fresh run from its root entropy.

    Untrained members are rebuilt with their own child seeds, so ``seed`` alone fixes the initial weights.
    """
    tournament.rng = child_rng(entropy, 3)
    mutation.rng = child_rng(entropy, 4)
    if memory is not None:
        memory.reseed(child_rng(entropy, 5))
    children = np.random.SeedSequence(entropy, spawn_key=(7,)).spawn(len(population))
    for k, member in enumerate(population):
        if member.steps[-1] == 0 and member.learn_counter == 0 and not member.fitness:
            rebuilt = type(member)(**member.init_kwargs(), index=member.index, seed=children[k])
            population[k] = rebuilt
        else:
            member.reseed(children[k])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def resolve_run_dir(run_dir: str | Path | None, env_name: str, algo: str, resume: bool, overwrite: bool) -> Path:
    """The run folder: an explicit one must be empty of checkpoints unless resuming or overwriting; a default
    one (``populations/<env>_<algo>``) gets a numeric suffix instead of touching an earlier run."""
    explicit = run_dir is not None
    path = Path(run_dir) if explicit else Path("populations") / _slug(f"{env_name}_{algo}")
    if resume or not ckpt.generation_dirs(path):
        return path
    if overwrite:
        for old in ckpt.generation_dirs(path):
            import shutil

            shutil.rmtree(old)
        return path
    if explicit:
        raise ConfigError("run_dir", str(path), "already holds checkpoints: pass resume=True to continue that run, "
                          "overwrite_checkpoints=True to replace it, or choose another folder")
    n = 2
    while ckpt.generation_dirs(path.with_name(f"{path.name}_{n}")):
        n += 1
    return path.with_name(f"{path.name}_{n}")


def run_signature(algo: str, env_name: str, population: list, num_envs: int) -> dict[str, Any]:
    """The facts a checkpoint must share with the run that resumes it."""
    lead = population[0]
    return {"algo": algo.upper(), "env_name": env_name, "population_size": len(population), "num_envs": num_envs,
            "agent_ids": list(lead.agent_ids),
            "observation_spaces": {a: space_to_dict(s) for a, s in lead.observation_spaces.items()},
            "action_spaces": {a: space_to_dict(s) for a, s in lead.action_spaces.items()}}


def build_writers(run_dir: Path, resume_after: int | None, wb: bool, wandb_kwargs: dict | None,
                  extra: list | None, config: dict | None) -> WriterGroup:
    writers: list = [CSVWriter(run_dir, resume_after=resume_after), LogWriter()]
    if wb:
        try:
            from evo_marl.tracking.wandb_writer import WandbWriter

            writers.append(WandbWriter(run_dir=run_dir, config=config, **(wandb_kwargs or {})))
        except Exception as err:  # W&B never stops training
            logger.warning("W&B logging is off: %s: %s", type(err).__name__, err)
    return WriterGroup(writers + list(extra or []))


def build_stopping(target: float | None, stopping: list[StoppingCriterion] | None) -> list[StoppingCriterion]:
    criteria = list(stopping or [])
    if target is not None:
        criteria.insert(0, TargetFitness(target))
    for c in criteria:
        if not isinstance(c, StoppingCriterion):
            raise ConfigError("stopping", c, "must be a list of StoppingCriterion objects")
    return criteria


def train_population(
    env, env_name: str, algo: str, pop: list, make_phase: Callable[[Any, int, int], Any], *, memory=None,
    INIT_HP: dict | None = None, MUT_P: dict | None = None, net_config: dict | None = None, max_steps: int,
    evo_steps: int, eval_steps: int | None, eval_loop: int, target: float | None, tournament, mutation,
    checkpoint: bool | int | None, run_dir: str | Path | None, overwrite_checkpoints: bool, wb: bool, verbose: bool,
    seed: int | None, resume: bool, save_buffer: bool, keep_checkpoints: int | None,
    stopping: list[StoppingCriterion] | None, writers: list | None, wandb_kwargs: dict | None, config: dict | None,
    manifest_extra: dict[str, Any] | None = None, on_resume: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list, list[list[float]]]:
    """The wiring every trainer shares: seeding, the population's batched env, run folder, runner, resume, writers.

    ``make_phase(vec_env, num_envs, entropy)`` builds the trainer's collect-and-learn phase. ``manifest_extra``
    entries are saved in every checkpoint manifest (a dict value is saved as it is at that time);
    ``on_resume(manifest)`` receives the manifest a resumed run continues from.
    """
    from evo_marl.training.off_policy import check_population_env
    from evo_marl.training.runner import EvolutionRunner, RunSettings

    init_hp = dict(INIT_HP or {})
    entropy = root_entropy(seed)
    tournament = tournament or default_tournament(pop, init_hp, eval_loop)
    mutation = mutation or mutations_from_mut_p(MUT_P)
    population = list(pop)
    if seed is not None and not resume:
        seed_components(entropy, population, tournament, mutation, memory)
    vec_env = check_population_env(env, population)
    num_envs = population[0].num_envs
    path = resolve_run_dir(run_dir, env_name, algo, resume, overwrite_checkpoints)
    settings = RunSettings(max_steps=max_steps, evo_steps=evo_steps, eval_steps=eval_steps, eval_loop=eval_loop,
                           run_dir=path, checkpoint=bool(checkpoint) or checkpoint is None,
                           keep_checkpoints=keep_checkpoints, save_buffer=save_buffer, verbose=verbose,
                           signature=run_signature(algo, env_name, population, num_envs),
                           manifest_extra={"net_config": net_config, "num_envs": num_envs, "init_hp": init_hp,
                                           **(manifest_extra or {})})
    eval_env = vec_env.spawn(eval_loop)
    runner = EvolutionRunner(population, tournament, mutation, eval_env, settings,
                             build_stopping(target, stopping), writers=None, entropy=entropy, memory=memory)
    resumed = resume and runner.resume()
    if resumed and on_resume is not None:
        on_resume(ckpt.read_manifest(ckpt.latest_generation(path)))
    runner.writers = build_writers(path, runner.generation if resumed else None, wb, wandb_kwargs, writers, config)
    population, history = runner.run(make_phase(vec_env, num_envs, runner.entropy))
    pop[:] = population
    return pop, history
