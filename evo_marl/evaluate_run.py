"""Evaluate the population saved in a run folder (``evo-marl evaluate RUN_DIR``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl import validation
from evo_marl.algorithms.spaces import space_to_dict
from evo_marl.cross_evaluation import open_run
from evo_marl.envs import make_vec_env
from evo_marl.envs.registry import family_of
from evo_marl.errors import CheckpointError, StorageError
from evo_marl.hpo.fitness import best_member
from evo_marl.run_folder import trained_env_state, write_json_atomic
from evo_marl.training.evaluation import evaluate_population

__all__ = ["best_member", "evaluate_run"]
logger = logging.getLogger(__name__)


def _check_env(env, signature: dict[str, Any], config_path: Path, generation: Path) -> None:
    """The env rebuilt from ``config.yaml`` must be the one the checkpoint was trained on (agents and spaces)."""
    built = {"agent_ids": list(env.agents),
             "observation_spaces": {a: space_to_dict(env.single_observation_space(a)) for a in env.agents},
             "action_spaces": {a: space_to_dict(env.single_action_space(a)) for a in env.agents}}
    for key, value in built.items():
        if key in signature and signature[key] != value:
            raise CheckpointError(f"{config_path}: its env has {key}={value!r}, but {generation} was trained with "
                                  f"{signature[key]!r}: the config no longer describes this run")


def evaluate_run(run_dir: str | Path, episodes: int = 20, seed: int = 12345, all_members: bool = False,
                 best: bool = False) -> tuple[str, dict[str, Any]]:
    """Evaluate the best member (by the run's fitness) or all members of the newest complete generation on
    fresh episodes of the run's env (``fitness``: scored as the run scored its members, ``training.fitness_metric``;
    ``return``: mean team return); ``best``: the best member ever evaluated, kept in ``<run_dir>/best/``;
    ``run_dir`` may also be one checkpoint folder of the run (``<run>/generation_<g>``).
    The env continues from the state saved with the generation: a curriculum is evaluated at the stage where
    training stopped.

    Returns a printable table and the results, which are also written to ``<run_dir>/evaluation.json`` (in the
    folder given).

    Raises:
        ConfigError: ``episodes`` or ``seed`` invalid. CheckpointError: no loadable checkpoint (a newest
        incomplete generation is skipped with a warning) or a config.yaml that no longer fits it. A read-only
        run folder only warns that ``evaluation.json`` was not written.
    """
    validation.positive_int("episodes", episodes)
    validation.number("seed", seed, 0, integer=True)
    run_dir = Path(run_dir)
    run = open_run(run_dir, best)
    config, generation = run.config, run.checkpoint
    members = run.population if all_members else [run.best]
    env = make_vec_env(config.env.id, num_envs=episodes, seed=seed, **config.env.kwargs).for_evaluation()
    env.load_state_dict(trained_env_state(run.manifest))  # e.g. a curriculum: its stage where training stopped
    _check_env(env, run.manifest.get("signature", {}), run.run_dir / "config.yaml", generation)
    evaluations = evaluate_population(members, env, config.training.eval_steps, seed=seed,
                                      fitness_metric=config.training.fitness_metric)
    summarise = family_of(config.env.id).evaluation_summary or (lambda metrics: {})
    rows = []
    for member, ev in zip(members, evaluations):
        summary = summarise(ev.episode_metrics)
        rows.append({"index": member.index, "fitness": ev.fitness, "return": ev.mean_return,
                     "std": float(np.std(ev.returns)), **summary, "metrics": ev.metrics})
    results: dict[str, Any] = {"run_dir": str(run_dir), "generation": generation.name, "episodes": episodes,
                               "seed": seed, "members": rows}
    extra = [k for k in rows[0] if k not in ("index", "fitness", "return", "std", "metrics")] if rows else []
    metric_names = sorted({k for ev in evaluations for k in ev.metrics})
    lines = [f"{generation} - {episodes} episodes, seed {seed}", ""]
    lines.append(f"{'member':>6}  {'fitness':>9}  {'return':>9}  {'std':>7}"
                 + "".join(f"  {n[:18]:>18}" for n in extra + metric_names))
    for row in rows:
        values = [row[n] for n in extra] + [row["metrics"].get(n, float("nan")) for n in metric_names]
        lines.append(f"{row['index']:>6}  {row['fitness']:>9.3f}  {row['return']:>9.3f}  {row['std']:>7.3f}"
                     + "".join(f"  {v:>18.3f}" for v in values))
    try:
        write_json_atomic(run_dir / "evaluation.json", results)
    except StorageError as err:  # the numbers are the product: show them even where they cannot be saved
        logger.warning("evaluation.json not written: %s", err)
    return "\n".join(lines), results
