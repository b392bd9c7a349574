"""``train_multi_agent_off_policy`` / ``train_multi_agent_on_policy``: the AgileRL call shape.

Both convert their keyword arguments once into a typed :class:`~evo_marl.training.settings.RunSettings`
(plus the selection and mutation operators AgileRL builds from ``INIT_HP`` and ``MUT_P``) and hand over to
:func:`~evo_marl.training.trainer.train_population`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evo_marl.engines import check_engine
from evo_marl.errors import ConfigError
from evo_marl.hpo.fitness import RETURN
from evo_marl.hpo.mutation import Mutations
from evo_marl.hpo.tournament import TournamentSelection
from evo_marl.stopping import StoppingCriterion, TargetFitness
from evo_marl.training.settings import RunSettings
from evo_marl.training.trainer import train_population

MUT_P_KEYS = {"NO_MUT": "no_mutation", "ARCH_MUT": "architecture", "NEW_LAYER": "new_layer_prob",
              "PARAMS_MUT": "parameters", "ACT_MUT": "activation", "RL_HP_MUT": "rl_hp", "MUT_SD": "mutation_sd",
              "RAND_SEED": "rand_seed", "MUTATE_ELITE": "mutate_elite"}


def mut_p_kwargs(mut_p: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword names for an AgileRL-style ``MUT_P`` dict (upper-case keys or keyword names)."""
    kwargs = {}
    for key, value in (mut_p or {}).items():
        name = MUT_P_KEYS.get(key, key if key.islower() else None)
        if name is None:
            raise ConfigError(f"MUT_P.{key}", value, f"unknown mutation setting; valid keys are {sorted(MUT_P_KEYS)}")
        kwargs[name] = value
    return kwargs


def mutations_from_mut_p(mut_p: dict[str, Any] | None) -> Mutations:
    """A :class:`Mutations` from an AgileRL-style ``MUT_P`` dict (upper-case keys) or keyword names."""
    return Mutations(**mut_p_kwargs(mut_p))


def _operators(pop: list, init_hp: dict, mut_p: dict | None, tournament, mutation):
    if tournament is None:
        tournament = TournamentSelection(tournament_size=int(init_hp.get("TOURN_SIZE", min(2, len(pop)))),
                                         elitism=bool(init_hp.get("ELITISM", True)), population_size=len(pop))
    return tournament, mutation or mutations_from_mut_p(mut_p)


def _criteria(target: float | None, stopping: list[StoppingCriterion] | None) -> list[StoppingCriterion]:
    return ([TargetFitness(target)] if target is not None else []) + list(stopping or [])


def _check_algo(algo: str, pop: list, on_policy: bool) -> None:
    if not pop:
        raise ConfigError("pop", pop, "must contain at least one member")
    kind = "on-policy" if on_policy else "off-policy"
    other = "train_multi_agent_off_policy" if on_policy else "train_multi_agent_on_policy"
    if any(m.on_policy != on_policy for m in pop):
        raise ConfigError("pop", pop[0].algo_name, f"is not an {kind} algorithm; train it with {other}")
    if str(algo).upper() != pop[0].algo_name:
        raise ConfigError("algo", algo, f"must match the population's algorithm ({pop[0].algo_name})")


def train_multi_agent_off_policy(
    env, env_name: str, algo: str, pop: list, memory, INIT_HP: dict | None = None, MUT_P: dict | None = None,
    net_config: dict | None = None, swap_channels: bool = False, max_steps: int = 50_000, evo_steps: int = 2_500,
    eval_steps: int | None = None, eval_loop: int = 1, learning_delay: int = 0, target: float | None = None,
    tournament=None, mutation=None, checkpoint: bool | int | None = True, checkpoint_path: str | Path | None = None,
    overwrite_checkpoints: bool = False, save_elite: bool = False, elite_path: str | None = None, wb: bool = False,
    verbose: bool = True, accelerator: Any = None, wandb_api_key: str | None = None, *, seed: int | None = None,
    run_dir: str | Path | None = None, resume: bool = False, save_buffer: bool = True, keep_checkpoints: int | None = 3,
    stopping: list[StoppingCriterion] | None = None, writers: list | None = None, wandb_kwargs: dict | None = None,
    config: dict | None = None, eval_set: str = "fresh", mlflow: bool = False, mlflow_kwargs: dict | None = None,
    batched_learning: bool = True, stack_grouping: str = "auto", backend: Any = None,
    engine: str = "evo-marl", fitness_metric: str = RETURN, keep_every: int | None = None, precision: str = "float32",
) -> tuple[list, list[list[float]]]:
    """Train a population of MADDPG/MATD3 members that share one replay buffer, evolving it between generations.

    Every generation each member collects ``evo_steps`` transitions in its slice of one batched env
    (``population x num_envs`` sub-envs, stepped at once), learning from the shared buffer every
    ``learn_step`` of its transitions; then every member is evaluated without exploration noise on
    ``eval_loop`` episodes (the same episodes for every member), metrics are written to
    ``<run_dir>/metrics.csv``, selection and mutation form the next generation, and the population (and
    the buffer, if ``save_buffer``) is checkpointed atomically to ``<run_dir>/generation_<g>/``.

    Args:
        env: an evo-marl ``VectorEnv`` with ``num_envs`` sub-envs (widened to the whole population) or
            ``population x num_envs`` sub-envs.
        env_name: a name for the run (used for the default run folder and in the checkpoint signature).
        algo: the population's algorithm (``"MADDPG"``, ``"MATD3"``). pop: the population (``create_population``).
        memory: the shared ``MultiAgentReplayBuffer``.
        INIT_HP: the AgileRL dict; ``TOURN_SIZE`` and ``ELITISM`` are read when ``tournament`` is None.
        MUT_P: AgileRL-style mutation probabilities, used when ``mutation`` is None.
        max_steps: environment steps per member. evo_steps: steps per member per generation.
        eval_steps: step cap of evaluation episodes (None: run to the end). eval_loop: evaluation episodes.
        learning_delay: transitions in the buffer before learning starts. target: stop when the best fitness
            reaches it.
        tournament: a selection strategy (``TournamentSelection``, ``NoSelection``, ...); its ``eval_loop``
            is the fitness window ("evaluate using the last N fitness scores"), used by selection, records,
            reports and stopping alike.
        keep_checkpoints: the newest N generation folders are kept (None: all); keep_every: also those of every
            generation that is a multiple of it.
        checkpoint: write a checkpoint every generation (False: metrics only). checkpoint_path / run_dir: the
            run folder (default ``populations/<env_name>_<algo>``). overwrite_checkpoints: replace checkpoints in
            an explicit run folder. resume: continue from the newest checkpoint of ``run_dir``.
        wb: log to Weights & Biases (``wandb_kwargs`` go to ``wandb.init``; offline mode works without network).
        mlflow: log to MLflow (``mlflow_kwargs`` go to :class:`~evo_marl.tracking.mlflow_writer.MLflowWriter`:
            ``tracking_uri``, ``experiment_name``, ...; default: a SQLite store in ``<run_dir>/mlruns``).
        seed: root seed: with the same seed the whole run (weights, exploration, selection, mutation, envs)
            repeats exactly.
        stopping: extra stopping criteria (e.g. ``ConvergenceCriterion``, or one an env family provides).
        eval_set: ``"fresh"`` evaluation episodes every generation, or ``"fixed"`` validation episodes.
        fitness_metric: what an evaluation scores: ``"return"`` (mean team return) or an episode metric of the
            env, ``-`` first to minimise it (e.g. ``"clean"``, ``"-episode_length"``; :mod:`evo_marl.hpo.fitness`).
        batched_learning / stack_grouping: members act and learn as stacks (:class:`RunSettings`; False: one by one).
        precision: of batched learning, ``"float32"`` or ``"bfloat16"`` (the hidden layers in bfloat16;
            :class:`RunSettings`).
        backend: ``None``/``"local"`` (this process), ``"ray"`` or a ``RayBackend`` (the population split over
            Ray actors, each with a replica of the shared buffer; see docs/scaling.md).
        engine: ``"evo-marl"`` (default) or ``"agilerl"``: AgileRL's own trainer on AgileRL agents, env and
            buffer, writing evo-marl's run folder (:func:`evo_marl.engines.agilerl.train_from_api`).
        writers: extra metric writers. swap_channels, save_elite, elite_path, accelerator, wandb_api_key:
            accepted for AgileRL compatibility (images are flattened; the best member is always in the checkpoint).

    Returns:
        ``(population, fitnesses)``: the final population and every generation's list of member fitnesses.
    """
    if check_engine(engine) == "agilerl":
        from evo_marl.engines.agilerl import train_from_api

        return train_from_api(
            env, env_name, algo, pop, memory, INIT_HP=INIT_HP, mutation_kwargs=mut_p_kwargs(MUT_P),
            tournament=tournament, mutation=mutation, target=target, stopping=stopping, writers=writers,
            max_steps=max_steps, evo_steps=evo_steps, eval_steps=eval_steps, eval_loop=eval_loop, eval_set=eval_set,
            learning_delay=learning_delay, seed=seed, run_dir=run_dir or checkpoint_path, resume=resume,
            overwrite=overwrite_checkpoints, checkpoint=bool(checkpoint) or checkpoint is None, verbose=verbose,
            wandb=wb, wandb_kwargs=dict(wandb_kwargs or {}), config=config, fitness_metric=fitness_metric,
            precision=precision)
    _check_algo(algo, pop, on_policy=False)
    init_hp = dict(INIT_HP or {})
    tournament, mutation = _operators(pop, init_hp, MUT_P, tournament, mutation)
    settings = RunSettings(
        env_name=env_name, max_steps=max_steps, evo_steps=evo_steps, eval_steps=eval_steps, eval_loop=eval_loop,
        eval_set=eval_set, fitness_window=getattr(tournament, "eval_loop", 1), fitness_metric=fitness_metric,
        learning_delay=learning_delay,
        seed=seed, run_dir=run_dir or checkpoint_path, resume=resume, overwrite=overwrite_checkpoints,
        checkpoint=bool(checkpoint) or checkpoint is None, keep_checkpoints=keep_checkpoints, keep_every=keep_every,
        save_buffer=save_buffer,
        verbose=verbose, wandb=wb, wandb_kwargs=dict(wandb_kwargs or {}), mlflow=mlflow,
        mlflow_kwargs=dict(mlflow_kwargs or {}), batched_learning=batched_learning, stack_grouping=stack_grouping,
        precision=precision, config=config, net_config=net_config)
    return train_population(env, pop, settings, memory=memory, selection=tournament, mutation=mutation,
                            stopping=_criteria(target, stopping), writers=writers or [], backend=backend)


def train_multi_agent_on_policy(
    env, env_name: str, algo: str, pop: list, INIT_HP: dict | None = None, MUT_P: dict | None = None,
    swap_channels: bool = False, max_steps: int = 50_000, evo_steps: int = 2_500, eval_steps: int | None = None,
    eval_loop: int = 1, target: float | None = None, tournament=None, mutation=None,
    checkpoint: bool | int | None = True, checkpoint_path: str | Path | None = None,
    overwrite_checkpoints: bool = False, wb: bool = False, verbose: bool = True, *, seed: int | None = None,
    run_dir: str | Path | None = None, resume: bool = False, keep_checkpoints: int | None = 3,
    stopping: list[StoppingCriterion] | None = None, writers: list | None = None, wandb_kwargs: dict | None = None,
    config: dict | None = None, eval_set: str = "fresh", mlflow: bool = False, mlflow_kwargs: dict | None = None,
    batched_learning: bool = True, stack_grouping: str = "auto", backend: Any = None,
    engine: str = "evo-marl", fitness_metric: str = RETURN, keep_every: int | None = None, precision: str = "float32",
) -> tuple[list, list[list[float]]]:
    """Train a population of IPPO members, each learning from its own rollouts, evolving it between generations.

    Every generation each member collects ``evo_steps`` steps in its slice of one batched env
    (``population x num_envs`` sub-envs, stepped at once) and runs PPO epochs once per rollout of
    ``learn_step`` env transitions; then members are evaluated without exploration on ``eval_loop`` episodes
    (the same for every member), metrics go to ``<run_dir>/metrics.csv``, selection and mutation form the
    next generation, and the population is checkpointed atomically to ``<run_dir>/generation_<g>/`` (no
    buffer: rollouts never outlive a generation). Arguments as
    :func:`train_multi_agent_off_policy` (without the replay-buffer ones).

    Returns:
        ``(population, fitnesses)``: the final population and every generation's list of member fitnesses.
    """
    if check_engine(engine) == "agilerl":
        from evo_marl.engines.agilerl import train_from_api

        return train_from_api(
            env, env_name, algo, pop, INIT_HP=INIT_HP, mutation_kwargs=mut_p_kwargs(MUT_P), tournament=tournament,
            mutation=mutation, target=target, stopping=stopping, writers=writers, max_steps=max_steps,
            evo_steps=evo_steps, eval_steps=eval_steps, eval_loop=eval_loop, eval_set=eval_set, seed=seed,
            run_dir=run_dir or checkpoint_path, resume=resume, overwrite=overwrite_checkpoints,
            checkpoint=bool(checkpoint) or checkpoint is None, verbose=verbose, wandb=wb,
            wandb_kwargs=dict(wandb_kwargs or {}), config=config, fitness_metric=fitness_metric,
            precision=precision)
    _check_algo(algo, pop, on_policy=True)
    init_hp = dict(INIT_HP or {})
    tournament, mutation = _operators(pop, init_hp, MUT_P, tournament, mutation)
    settings = RunSettings(
        env_name=env_name, max_steps=max_steps, evo_steps=evo_steps, eval_steps=eval_steps, eval_loop=eval_loop,
        eval_set=eval_set, fitness_window=getattr(tournament, "eval_loop", 1), fitness_metric=fitness_metric,
        seed=seed,
        run_dir=run_dir or checkpoint_path, resume=resume, overwrite=overwrite_checkpoints,
        checkpoint=bool(checkpoint) or checkpoint is None, keep_checkpoints=keep_checkpoints, keep_every=keep_every,
        save_buffer=False,
        verbose=verbose, wandb=wb, wandb_kwargs=dict(wandb_kwargs or {}), mlflow=mlflow,
        mlflow_kwargs=dict(mlflow_kwargs or {}), batched_learning=batched_learning, stack_grouping=stack_grouping,
        precision=precision, config=config, net_config=pop[0].net_config)
    return train_population(env, pop, settings, selection=tournament, mutation=mutation,
                            stopping=_criteria(target, stopping), writers=writers or [], backend=backend)
