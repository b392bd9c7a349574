"""Which burning house should a working team pick? Four house-choice rules of an always-working team.

    python benchmarks/bench_bucket_brigade_work_rules.py [--scenarios default hard ...] [--episodes 2000]
        [--out benchmarks/results/bucket_brigade_work_rules.md]

Every rule works whenever a house burns and rests at home otherwise (as ``all_work``); they differ only in
which burning house each seat works:

* ``random`` — a uniformly random burning house per seat: the scripted ``all_work``;
* ``same`` — every seat the lowest-index burning house (what one deterministic policy shared by all
  seats does unless it learns to use its seat identity);
* ``nearest`` — the burning house nearest to the seat's own house on the ring (an egocentric rule);
* ``ranked`` — seat ``s`` takes the ``(s mod k)``-th of the ``k`` burning houses: the fires are split as
  evenly as the seats allow, a convention every seat must share.

Team reward per night, mean ± 95 % CI half-width over ``--episodes`` episodes (the same seeds for every rule).
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import date

import numpy as np

from evo_marl.envs.bucket_brigade.agents import nth_burning_house
from evo_marl.envs.bucket_brigade.scenarios import list_scenarios
from evo_marl.envs.bucket_brigade.views import vec_env
from bench_bucket_brigade_learning import Interval
from results_file import write_results

RULES = ("random", "same", "nearest", "ranked")


def choose_houses(rule: str, burning: np.ndarray, num_seats: int, rng: np.random.Generator) -> np.ndarray:
    """House per seat ``int[E, N]`` for burning masks ``bool[E, H]`` (rows with a fire only matter)."""
    num_envs, num_houses = burning.shape
    seats = np.arange(num_seats)[None, :]
    count = burning.sum(1, keepdims=True)
    if rule == "random":
        return nth_burning_house(burning, np.floor(rng.random((num_envs, num_seats)) * count).astype(np.int64))
    if rule == "ranked":
        return nth_burning_house(burning, seats % np.maximum(count, 1))
    if rule == "same":
        return np.repeat(np.argmax(burning, axis=1)[:, None], num_seats, axis=1)
    offset = (np.arange(num_houses)[None, None, :] - seats[..., None]) % num_houses  # from seat s's house s
    distance = 2 * np.minimum(offset, num_houses - offset) + (offset > num_houses // 2)  # ties: clockwise
    return np.argmin(np.where(burning[:, None, :], distance, 10 * num_houses), axis=-1)


def play(scenario: str, rule: str, episodes: int, seed: int) -> Interval:
    env = vec_env(scenario, num_envs=episodes, seed=seed)
    agents, num_agents = env.agents, env.sim.num_agents
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    done, total, nights = np.zeros(episodes, bool), np.zeros(episodes), np.zeros(episodes)
    home = np.arange(num_agents)[None, :] % env.sim.num_houses
    for _ in range(env.sim.max_nights + 1):
        burning = env.sim.houses == 1
        fire = burning.any(1, keepdims=True)
        house = np.where(fire, choose_houses(rule, burning, num_agents, rng), home)
        mode = np.repeat(fire, num_agents, axis=1).astype(np.int64)
        _, rewards, _, _, info = env.step({a: np.stack([house[:, i], mode[:, i]], 1) for i, a in enumerate(agents)})
        live = ~done
        total[live] += np.stack([rewards[a] for a in agents], 1).sum(1)[live]
        nights[live] += 1
        done |= info["final_mask"]
        if done.all():
            break
    return Interval.of(total / np.maximum(nights, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=list_scenarios(), choices=list_scenarios())
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--out", default="benchmarks/results/bucket_brigade_work_rules.md")
    args = parser.parse_args()
    lines = ["# Bucket Brigade: which burning house should an always-working team pick?", "",
             f"Command: `python benchmarks/bench_bucket_brigade_work_rules.py --episodes {args.episodes}`  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}", "",
             "Team reward per night, mean ± 95% CI half-width over the same episodes for every rule (see the "
             "script's docstring). `random` is the scripted `all_work`.", "",
             "| scenario | " + " | ".join(RULES) + " | best |", "|---|" + "---:|" * len(RULES) + "---|"]
    for scenario in args.scenarios:
        values = {rule: play(scenario, rule, args.episodes, args.seed) for rule in RULES}
        best = max(values, key=lambda r: values[r].mean)
        lines.append(f"| {scenario} | " + " | ".join(str(values[r]) for r in RULES) + f" | {best} |")
        print(lines[-1], flush=True)
    write_results(args.out, lines + [""])


if __name__ == "__main__":
    main()
