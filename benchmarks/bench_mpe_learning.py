"""Learning on mpe2: MATD3 and MADDPG populations (4 members) after 200k total transitions vs a random policy.

    python benchmarks/bench_mpe_learning.py [--transitions 200000] [--episodes 100] [--out benchmarks/results/mpe_learning.md]

Uses the shipped configs (configs/mpe_*_{matd3,maddpg}.yaml) with the budget set to the given total.
Fitness is the team return (sum over agents) of an episode, averaged over ``--episodes`` evaluation
episodes of the best member; the random policy is evaluated on the same episodes.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from evo_marl.config import load_config
from evo_marl.envs import make_vec_env
from evo_marl.experiment import run_experiment
from evo_marl.hpo import best_member
from evo_marl.training.evaluation import run_episodes
from results_file import write_results

CONFIGS = ["mpe_speaker_listener_matd3", "mpe_speaker_listener_maddpg", "mpe_simple_spread_matd3",
           "mpe_simple_spread_maddpg"]


def random_policy(env, rng):
    def act(obs, infos):
        return {a: np.stack([env.single_action_space(a).sample() for _ in range(env.num_envs)]) for a in env.agents}
    for a in env.agents:
        env.single_action_space(a).seed(int(rng.integers(2**31 - 1)))
    return act


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=200_000)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--configs", nargs="*", default=CONFIGS)
    parser.add_argument("--out", default="benchmarks/results/mpe_learning.md")
    parser.add_argument("--root", default="populations/bench")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.configs:
        config = load_config(Path("configs") / f"{name}.yaml")
        config.name, config.output.root = name, args.root
        config.training.max_steps = args.transitions // config.population_size
        config.output.plots = False
        start = time.perf_counter()
        pop, history, run_dir = run_experiment(config, overwrite=True, verbose=False)
        wall = time.perf_counter() - start
        env = make_vec_env(config.env.id, num_envs=args.episodes, seed=999)
        best = best_member(pop)
        best.set_training_mode(False)
        trained = run_episodes(lambda o, i: best.get_action(o, i)[0], env, seed=999).returns
        rand = run_episodes(random_policy(env, np.random.default_rng(0)), env, seed=999).returns
        rows.append((name, config.env.id, config.algo, args.transitions, wall, trained.mean(), trained.std(),
                     rand.mean(), rand.std(), max(history[0]), max(history[-1])))
        print(f"{name}: trained {trained.mean():.2f} ± {trained.std():.2f} vs random {rand.mean():.2f} "
              f"({wall:.0f} s)", flush=True)
    lines = [f"# mpe2 learning: population of 4 after {args.transitions:,} total transitions", "",
             f"Measured {date.today()} on this machine (2 CPU cores) with "
             f"`python benchmarks/bench_mpe_learning.py --transitions {args.transitions} --episodes {args.episodes}`.",
             f"Team return per episode (sum over agents), best member, {args.episodes} evaluation episodes (same "
             "seeds for trained and random).", "",
             "| config | env | algo | wall (s) | trained | random | best fitness gen 1 → last |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[4]:.0f} | {r[5]:.2f} ± {r[6]:.2f} | {r[7]:.2f} ± {r[8]:.2f} | "
                     f"{r[9]:.2f} → {r[10]:.2f} |")
    write_results(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
