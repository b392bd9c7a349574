"""``train_multi_agent_off_policy``: the AgileRL call shape, backed by evo-marl's batched trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evo_marl.errors import ConfigError
from evo_marl.training import common
from evo_marl.training.off_policy import OffPolicyPhase
from evo_marl.training.stopping import StoppingCriterion


def train_multi_agent_off_policy(
    env, env_name: str, algo: str, pop: list, memory, INIT_HP: dict | None = None, MUT_P: dict | None = None,
    net_config: dict | None = None, swap_channels: bool = False, max_steps: int = 50_000, evo_steps: int = 2_500,
    eval_steps: int | None = None, eval_loop: int = 1, learning_delay: int = 0, target: float | None = None,
    tournament=None, mutation=None, checkpoint: bool | int | None = True, checkpoint_path: str | Path | None = None,
    overwrite_checkpoints: bool = False, save_elite: bool = False, elite_path: str | None = None, wb: bool = False,
    verbose: bool = True, accelerator: Any = None, wandb_api_key: str | None = None, *, seed: int | None = None,
    run_dir: str | Path | None = None, resume: bool = False, save_buffer: bool = True, keep_checkpoints: int | None = 3,
    stopping: list[StoppingCriterion] | None = None, writers: list | None = None, wandb_kwargs: dict | None = None,
    config: dict | None = None,
) -> tuple[list, list[list[float]]]:
    """Train a population of MADDPG/MATD3 members that share one replay buffer, evolving it between generations.

    Every generation each member collects ``evo_steps`` transitions in its slice of one batched env
    (``population x num_envs`` sub-envs, stepped at once), learning from the shared buffer every
    ``learn_step`` of its transitions; then every member is evaluated without exploration noise on
    ``eval_loop`` episodes (the same episodes for every member), metrics are written to
    ``<run_dir>/metrics.csv``, tournament selection and mutation form the next generation, and the
    population (and the buffer, if ``save_buffer``) is checkpointed atomically to ``<run_dir>/generation_<g>/``.

    Args:
        env: an evo-marl ``VectorEnv`` with ``num_envs`` sub-envs (widened to the whole population) or
            ``population x num_envs`` sub-envs.
        env_name: a name for the run (used for the default run folder and in the checkpoint signature).
        algo: ``"MADDPG"`` or ``"MATD3"``. pop: the population (``create_population``). memory: the shared
            ``MultiAgentReplayBuffer``.
        INIT_HP: the AgileRL dict; ``TOURN_SIZE`` and ``ELITISM`` are read when ``tournament`` is None.
        MUT_P: AgileRL-style mutation probabilities, used when ``mutation`` is None.
        max_steps: environment steps per member. evo_steps: steps per member per generation.
        eval_steps: step cap of evaluation episodes (None: run to the end). eval_loop: evaluation episodes.
        learning_delay: transitions in the buffer before learning starts. target: stop when the best fitness
            reaches it.
        checkpoint: write a checkpoint every generation (False: metrics only). checkpoint_path / run_dir: the
            run folder (default ``populations/<env_name>_<algo>``). overwrite_checkpoints: replace checkpoints in
            an explicit run folder. resume: continue from the newest checkpoint of ``run_dir``.
        wb: log to Weights & Biases (``wandb_kwargs`` go to ``wandb.init``; offline mode works without network).
        seed: root seed: with the same seed the whole run (weights, exploration, selection, mutation, envs)
            repeats exactly.
        stopping: extra stopping criteria (e.g. ``ConflictFreeStreak``, ``ConvergenceCriterion``).
        writers: extra metric writers. swap_channels, save_elite, elite_path, accelerator, wandb_api_key:
            accepted for AgileRL compatibility (images are flattened; the best member is always in the checkpoint).

    Returns:
        ``(population, fitnesses)``: the final population and every generation's list of member fitnesses.
    """
    if algo.upper() not in ("MADDPG", "MATD3") or any(m.algo_name != algo.upper() for m in pop):
        raise ConfigError("algo", algo, f"must be MADDPG or MATD3 and match the population ({pop[0].algo_name})")
    if memory is None:
        raise ConfigError("memory", None, "off-policy training needs a MultiAgentReplayBuffer")
    for name, value in (("learning_delay", learning_delay),):
        if not isinstance(value, int) or value < 0:
            raise ConfigError(name, value, "must be an integer >= 0")
    return common.train_population(
        env, env_name, algo, pop,
        lambda vec_env, num_envs, entropy: OffPolicyPhase(vec_env, memory, num_envs, evo_steps, learning_delay, entropy),
        memory=memory, INIT_HP=INIT_HP, MUT_P=MUT_P, net_config=net_config, max_steps=max_steps, evo_steps=evo_steps,
        eval_steps=eval_steps, eval_loop=eval_loop, target=target, tournament=tournament, mutation=mutation,
        checkpoint=checkpoint, run_dir=run_dir or checkpoint_path, overwrite_checkpoints=overwrite_checkpoints,
        wb=wb, verbose=verbose, seed=seed, resume=resume, save_buffer=save_buffer, keep_checkpoints=keep_checkpoints,
        stopping=stopping, writers=writers, wandb_kwargs=wandb_kwargs, config=config)
