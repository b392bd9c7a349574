"""Env steps per second of the batched ATC simulator (random actions, no learning).

    python benchmarks/bench_atc_env.py [--num-envs 1 64 4096] [--scenarios head_on canonical_crossing random]
                                       [--seconds 3] [--write benchmarks/results/atc_env.md]

Env steps/s = vector steps x num_envs / wall seconds, through the public ``make_vec_env`` view
(auto-reset, infos and episode metrics included). Actions for the whole run are drawn up front so
the timing covers the env only.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

import evo_marl


def measure(scenario: str, num_envs: int, seconds: float, seed: int = 0) -> tuple[float, int]:
    """(env steps per second, vector steps timed) for one scenario and batch size."""
    env = evo_marl.make_vec_env(f"atc/{scenario}", num_envs=num_envs, seed=seed)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    bank = [{a: rng.uniform(-1, 1, (num_envs, 2)).astype(np.float32) for a in env.possible_agents} for _ in range(64)]
    for i in range(5):  # warm-up
        env.step(bank[i])
    steps, start = 0, time.perf_counter()
    while True:
        env.step(bank[steps % len(bank)])
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps >= 3:
            return steps * num_envs / elapsed, steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 4096])
    parser.add_argument("--scenarios", nargs="+", default=["head_on", "canonical_crossing", "random"])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--write", default=None, help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    rows = []
    for scenario in args.scenarios:
        agents = len(evo_marl.make_env(f"atc/{scenario}").possible_agents)
        for n in args.num_envs:
            rate, steps = measure(scenario, n, args.seconds)
            rows.append(f"| {scenario} | {agents} | {n} | {steps} | {rate:,.0f} |")
            print(rows[-1], flush=True)
    header = ["| scenario | agents | num_envs | vector steps timed | env steps / s |", "|---|---|---|---|---|"]
    table = "\n".join(header + rows)
    print(table)
    if args.write:
        cmd = "python " + " ".join([os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))
        with open(args.write, "w") as f:
            f.write(
                "# ATC env throughput\n\n"
                f"Command: `{cmd}`  \nDate: {datetime.date.today().isoformat()}  \n"
                f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
                f"Python {platform.python_version()}, NumPy {np.__version__}\n\n{table}\n"
            )


if __name__ == "__main__":
    main()
