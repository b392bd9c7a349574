"""Env steps per second of the batched ATC simulator (random actions, no learning).

    python benchmarks/bench_atc_env.py [--num-envs 1 64 4096] [--scenarios head_on canonical_crossing random]
                                       [--seconds 3] [--repeats 3] [--write benchmarks/results/atc_env.md]

Env steps/s = vector steps x num_envs / wall seconds, through the public ``make_vec_env`` view
(auto-reset, infos and episode metrics included). Actions for the whole run are drawn up front so
the timing covers the env only. Each configuration is timed ``--repeats`` times; the table gives the
best and the median wall-clock rate (the best is the least disturbed by other processes on a shared
machine) and the median rate per CPU second of this process (insensitive to such contention).
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
from results_file import write_results


def measure(scenario: str, num_envs: int, seconds: float, seed: int = 0) -> tuple[float, float, int]:
    """(env steps per wall second, per CPU second of this process, vector steps timed)."""
    env = evo_marl.make_vec_env(f"atc/{scenario}", num_envs=num_envs, seed=seed)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    bank = [{a: rng.uniform(-1, 1, (num_envs, 2)).astype(np.float32) for a in env.possible_agents} for _ in range(64)]
    for i in range(5):  # warm-up
        env.step(bank[i])
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        env.step(bank[steps % len(bank)])
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps >= 3:
            return steps * num_envs / elapsed, steps * num_envs / (time.process_time() - cpu), steps


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 4096])
    parser.add_argument("--scenarios", nargs="+", default=["head_on", "canonical_crossing", "random"])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", default=None, help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    rows = []
    load_before = os.getloadavg()[0]
    for scenario in args.scenarios:
        agents = len(evo_marl.make_env(f"atc/{scenario}").possible_agents)
        for n in args.num_envs:
            runs = [measure(scenario, n, args.seconds) for _ in range(args.repeats)]
            wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
            rows.append(f"| {scenario} | {agents} | {n} | {runs[0][2]} | {max(wall):,.0f} | {np.median(wall):,.0f} "
                        f"| {np.median(cpu):,.0f} |")
            print(rows[-1], flush=True)
    header = ["| scenario | agents | num_envs | vector steps per run | env steps / s, best | env steps / s, median "
              "| env steps / CPU-s, median |", "|---|---|---|---|---|---|---|"]
    table = "\n".join(header + rows)
    print(table)
    if args.write:
        cmd = "python " + " ".join([os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))
        write_results(args.write, [  # keeps a hand-written "## Notes" section
            "# ATC env throughput", "",
            f"Command: `{cmd}`  ", f"Date: {datetime.date.today().isoformat()}  ",
            f"Machine: {_cpu_name()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}; load average while measuring {load_before:.2f} -> {os.getloadavg()[0]:.2f} "
            "(other processes share these cores)", "", table])


if __name__ == "__main__":
    main()
