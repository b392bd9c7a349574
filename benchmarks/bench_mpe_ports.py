"""Cost of one vector step of the batched mpe2 ports against mpe2's own env in SyncParallelVecEnv.

    python benchmarks/bench_mpe_ports.py [--num-envs 8 32 128] [--steps 200] [--repeats 3]
        [--out benchmarks/results/mpe_ports.md]

For every ported task (``evo_marl.envs.mpe_batched.PORTS``) and sub-env count, both envs step the same fixed
bank of random continuous actions (auto-resets included, every 25 steps); the two are timed alternately
``--repeats`` times and the table gives the median microseconds per vector step and the ratio. The ports return
exactly what mpe2 returns (``tests/envs/test_mpe_batched.py``), so this is the whole difference.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import date

import numpy as np

from evo_marl import make_vec_env
from evo_marl.envs.mpe_batched import PORTS
from results_file import write_results


def step_cost(env_id: str, num_envs: int, batched: bool, steps: int) -> float:
    """Microseconds per vector step over ``steps`` steps, after 10 warm-up steps."""
    env = make_vec_env(env_id, num_envs, seed=0, batched=batched)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    bank = [{a: rng.uniform(0, 1, (num_envs, *env.single_action_space(a).shape)).astype(np.float32)
             for a in env.agents} for _ in range(16)]
    for i in range(10):
        env.step(bank[i % 16])
    start = time.perf_counter()
    for i in range(steps):
        env.step(bank[i % 16])
    return (time.perf_counter() - start) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", nargs="+", type=int, default=[8, 32, 128])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    for task in sorted(PORTS):
        for n in args.num_envs:
            costs: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeats):
                for batched in (False, True):
                    costs[batched].append(step_cost(f"mpe2/{task}", n, batched, args.steps))
            mpe2, port = statistics.median(costs[False]), statistics.median(costs[True])
            rows.append(f"| {task} | {n} | {mpe2:,.0f} | {port:,.0f} | **{mpe2 / port:.0f}x** |")
            print(rows[-1], flush=True)
    lines = ["# Batched mpe2 ports: cost of one vector step", "",
             f"Command: `python benchmarks/bench_mpe_ports.py {' '.join(sys.argv[1:])}`  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python "
             f"{platform.python_version()}, numpy {np.__version__}; load average {load:.2f} at the start, "
             f"{os.getloadavg()[0]:.2f} at the end.", "",
             "Microseconds per vector step (all sub-envs, continuous actions, auto-resets included), median of "
             f"{args.repeats} alternating runs of {args.steps} steps: mpe2's own env in `SyncParallelVecEnv` "
             "(`batched=False`) against the batched port (the default), which returns exactly the same "
             "observations, rewards and ends.", "",
             "| task | sub-envs | mpe2 (us) | port (us) | port faster by |", "|---|---:|---:|---:|---:|", *rows]
    if args.out:
        print(f"wrote {write_results(args.out, lines)}")
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
