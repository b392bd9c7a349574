"""Evaluate the population saved in a run folder (``evo-marl evaluate RUN_DIR``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.envs import make_vec_env
from evo_marl.envs.registry import family_of
from evo_marl.errors import CheckpointError
from evo_marl.experiment import load_run_config
from evo_marl.hpo.fitness import best_member
from evo_marl.run_folder import read_manifest
from evo_marl.training.checkpoint import latest_generation, load_population
from evo_marl.training.evaluation import evaluate_population

__all__ = ["best_member", "evaluate_run"]


def evaluate_run(run_dir: Path, episodes: int = 20, seed: int = 12345,
                 all_members: bool = False) -> tuple[str, dict[str, Any]]:
    """Evaluate the best member (by the run's fitness) or all members of the newest generation on fresh episodes.

    Returns a printable table and the results, which are also written to ``<run_dir>/evaluation.json``.
    """
    generation = latest_generation(run_dir)
    if generation is None:
        from evo_marl.engines.agilerl import CHECKPOINT_DIR

        hint = (f" (trained with engine agilerl: its population is in {CHECKPOINT_DIR}/ in AgileRL's format, "
                "<Algo>.load(path))") if (Path(run_dir) / CHECKPOINT_DIR).is_dir() else ""
        raise CheckpointError(f"{run_dir}: no generation_<g> checkpoint folder found{hint}")
    config = load_run_config(run_dir)
    window = int(read_manifest(generation).get("fitness_window", 1))
    population = load_population(generation)
    members = population if all_members else [best_member(population, window)]
    env = make_vec_env(config.env.id, num_envs=episodes, seed=seed, **config.env.kwargs)
    evaluations = evaluate_population(members, env, config.training.eval_steps, seed=seed)
    summarise = family_of(config.env.id).evaluation_summary or (lambda metrics: {})
    rows = []
    for member, ev in zip(members, evaluations):
        summary = summarise(ev.episode_metrics)
        rows.append({"index": member.index, "fitness": ev.fitness, "std": float(np.std(ev.returns)),
                     **summary, "metrics": ev.metrics})
    results: dict[str, Any] = {"run_dir": str(run_dir), "generation": generation.name, "episodes": episodes,
                               "seed": seed, "members": rows}
    extra = [k for k in rows[0] if k not in ("index", "fitness", "std", "metrics")] if rows else []
    metric_names = sorted({k for ev in evaluations for k in ev.metrics})
    lines = [f"{generation} - {episodes} episodes, seed {seed}", ""]
    lines.append(f"{'member':>6}  {'fitness':>9}  {'std':>7}" + "".join(f"  {n[:18]:>18}" for n in extra + metric_names))
    for row in rows:
        values = [row[n] for n in extra] + [row["metrics"].get(n, float("nan")) for n in metric_names]
        lines.append(f"{row['index']:>6}  {row['fitness']:>9.3f}  {row['std']:>7.3f}"
                     + "".join(f"  {v:>18.3f}" for v in values))
    (Path(run_dir) / "evaluation.json").write_text(json.dumps(results, indent=1))
    return "\n".join(lines), results
