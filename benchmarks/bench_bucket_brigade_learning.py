"""Learning on Bucket Brigade: a trained population's team reward per night vs every scripted baseline.

    python benchmarks/bench_bucket_brigade_learning.py [--configs bucket_brigade_default_matd3 ...]
        [--episodes 1000] [--seed 0] [--out benchmarks/results/bucket_brigade_learning.md]
        [--root populations/bench_bucket_brigade]

Trains a population from each shipped config (``configs/<name>.yaml``, budget as written there), then
plays the final best member in all four seats on ``--episodes`` fresh episodes and sets its team reward
per night (the metric of ``evo-marl baselines bucket_brigade``) against every scripted baseline on the
same scenario, each over the same number of episodes, with normal 95% confidence intervals. A learned
team **wins** where its interval lies above the best baseline's, **ties** where they overlap and
**loses** otherwise. A ``## Notes`` section at the end of an existing ``--out`` file is kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import torch

from evo_marl.config import load_config
from evo_marl.envs import make_vec_env
from evo_marl.envs.bucket_brigade.baselines import mean_ci, run_baselines
from evo_marl.experiment import run_experiment
from evo_marl.hpo import best_member
from evo_marl.training.evaluation import run_episodes
from results_file import write_results

CONFIGS = ["bucket_brigade_default_ippo", "bucket_brigade_rest_trap_ippo", "bucket_brigade_greedy_neighbor_ippo",
           "bucket_brigade_default_matd3"]


@dataclass
class Interval:
    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: np.ndarray) -> Interval:
        return cls(*mean_ci(values))

    def __str__(self) -> str:
        return f"{self.mean:.1f} ± {(self.high - self.low) / 2:.1f}"


def verdict(learned: Interval, best: Interval) -> str:
    if learned.low > best.high:
        return "wins"
    if learned.high < best.low:
        return "loses"
    return "ties"


def evaluate_learned(config, population, episodes: int, seed: int) -> tuple[Interval, float]:
    """Team reward per night of the best member over ``episodes`` fresh episodes, and its work fraction."""
    env = make_vec_env(config.env.id, num_envs=episodes, seed=seed, **config.env.kwargs)
    member = best_member(population)
    member.set_training_mode(False)
    res = run_episodes(lambda o, i: member.get_action(o, i)[0], env, max_steps=config.training.eval_steps, seed=seed)
    per_night = res.metrics["team_reward_per_night"]
    return Interval.of(per_night[np.isfinite(per_night)]), float(np.nanmean(res.metrics["work_fraction"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=CONFIGS)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="training seed (overrides the config's)")
    parser.add_argument("--out", default="benchmarks/results/bucket_brigade_learning.md")
    parser.add_argument("--root", default="populations/bench_bucket_brigade")
    args = parser.parse_args()
    torch.set_num_threads(1)

    rows = []
    for name in args.configs:
        config = load_config(Path("configs") / f"{name}.yaml")
        config.name, config.output.root, config.seed = name, args.root, args.seed
        start = time.perf_counter()
        population, history, _ = run_experiment(config, overwrite=True, verbose=False)
        wall = time.perf_counter() - start
        learned, work = evaluate_learned(config, population, args.episodes, seed=10_000 + args.seed)
        scenario = config.env.id.split("/", 1)[1]
        baselines = run_baselines(scenarios=[scenario], episodes=args.episodes, seed=args.seed)
        best = max(baselines, key=lambda r: r["mean"])
        best_iv = Interval(best["mean"], best["ci_low"], best["ci_high"])
        beaten = [r["policy"] for r in baselines if learned.low > r["ci_high"]]
        steps = population[0].steps[-1] if population[0].steps else 0
        rows.append((name, scenario, config.algo, steps, wall, learned, work, best["policy"], best_iv,
                     verdict(learned, best_iv), len(beaten), len(baselines)))
        print(f"{name}: learned {learned} per night vs best scripted {best['policy']} {best_iv} "
              f"-> {rows[-1][9]} ({wall:.0f} s)", flush=True)

    lines = ["# Bucket Brigade learning: a trained population vs the scripted baselines", "",
             f"Command: `python benchmarks/bench_bucket_brigade_learning.py --configs {' '.join(args.configs)} "
             f"--episodes {args.episodes} --seed {args.seed}`  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, torch {torch.__version__} (1 thread)", "",
             "Team reward per night (sum over the four seats and all nights of an episode, divided by its nights), "
             f"mean ± half-width of a normal 95% CI over {args.episodes} episodes. The learned team is the final best "
             "member playing every seat; each baseline is a homogeneous scripted team on the same scenario "
             "(`evo-marl baselines bucket_brigade`). Steps are env steps per member; wall is the whole training run "
             "(collection, learning, evaluation, evolution, checkpoints).", "",
             "| config | scenario | algo | steps / member | wall (s) | learned | learned work fraction | "
             "best scripted | best scripted value | vs best | baselines beaten |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:,} | {r[4]:.0f} | {r[5]} | {r[6]:.2f} | {r[7]} | {r[8]} | "
                     f"{r[9]} | {r[10]} of {r[11]} |")
    write_results(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
