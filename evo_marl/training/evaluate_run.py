"""Evaluate the population saved in a run folder (``evo-marl evaluate RUN_DIR``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.errors import CheckpointError
from evo_marl.training.checkpoint import latest_generation, load_population
from evo_marl.training.evaluation import evaluate_population

LOS_NM = 5.0


def best_member(population: list) -> Any:
    """The member with the highest last fitness (NaN counts as worst)."""
    def key(m):
        f = m.fitness[-1] if m.fitness else -math.inf
        return f if math.isfinite(f) else -math.inf
    return max(population, key=key)


def evaluate_run(run_dir: Path, episodes: int = 20, seed: int = 12345,
                 all_members: bool = False) -> tuple[str, dict[str, Any]]:
    """Evaluate the best member (or all) of the newest generation on fresh episodes.

    Returns a printable table and the results, which are also written to ``<run_dir>/evaluation.json``.
    """
    from evo_marl.config import load_config
    from evo_marl.envs import make_vec_env
    from evo_marl.experiment import CONFIG_FILE

    generation = latest_generation(run_dir)
    if generation is None:
        raise CheckpointError(f"{run_dir}: no generation_<g> checkpoint folder found")
    config_path = Path(run_dir) / CONFIG_FILE
    if not config_path.exists():
        raise CheckpointError(f"{config_path}: missing; cannot rebuild the env of this run")
    config = load_config(config_path)
    population = load_population(generation)
    members = population if all_members else [best_member(population)]
    env = make_vec_env(config.env.id, num_envs=episodes, seed=seed, **config.env.kwargs)
    evaluations = evaluate_population(members, env, config.training.eval_steps, seed=seed)
    results: dict[str, Any] = {"run_dir": str(run_dir), "generation": generation.name, "episodes": episodes,
                               "seed": seed, "members": []}
    lines = [f"{generation} - {episodes} episodes, seed {seed}", ""]
    header = f"{'member':>6}  {'fitness':>9}  {'std':>7}"
    metric_names = sorted({k for ev in evaluations for k in ev.metrics})
    if "min_separation_nm" in metric_names:
        header += f"  {'LoS risk':>8}"
    header += "".join(f"  {name[:18]:>18}" for name in metric_names)
    lines.append(header)
    for member, ev in zip(members, evaluations):
        row = {"index": member.index, "fitness": ev.fitness, "std": float(np.std(ev.returns)), "metrics": ev.metrics}
        line = f"{member.index:>6}  {ev.fitness:>9.3f}  {row['std']:>7.3f}"
        if "min_separation_nm" in metric_names:
            seps = ev.episode_metrics.get("min_separation_nm", np.array([]))
            row["los_risk"] = float(np.mean(seps[np.isfinite(seps)] < LOS_NM)) if seps.size else float("nan")
            line += f"  {row['los_risk']:>8.2f}"
        line += "".join(f"  {ev.metrics.get(name, float('nan')):>18.3f}" for name in metric_names)
        lines.append(line)
        results["members"].append(row)
    (Path(run_dir) / "evaluation.json").write_text(json.dumps(results, indent=1))
    return "\n".join(lines), results
