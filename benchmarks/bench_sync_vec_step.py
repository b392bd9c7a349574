"""Sub-env steps per second of ``SyncParallelVecEnv.step`` (the path that catches a raising sub-env), for an A/B
of two checkouts: run it from each repository root in turn, alternating, and compare the medians.

    cd /path/to/checkout && python benchmarks/bench_sync_vec_step.py [--env mpe2/simple_speaker_listener_v4]

Prints which ``evo_marl`` it imported, the median and best of 5 x 400 vector steps (after 50 warm-up steps).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # the checkout in the working directory

import numpy as np  # noqa: E402

import evo_marl  # noqa: E402
from evo_marl.envs.vector import SyncParallelVecEnv  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="mpe2/simple_speaker_listener_v4")
    parser.add_argument("--num-envs", type=int, default=32)
    args = parser.parse_args(argv)
    options = {"batched": False} if args.env.startswith("mpe2/") else {}  # mpe2's own env, not the batched port
    env = evo_marl.make_vec_env(args.env, num_envs=args.num_envs, seed=0, **options)
    if not isinstance(env, SyncParallelVecEnv):
        raise SystemExit(f"{args.env} is not stepped by SyncParallelVecEnv ({type(env).__name__})")
    env.reset(seed=0)
    bank = [{a: np.stack([env.single_action_space(a).sample() for _ in range(args.num_envs)]) for a in env.agents}
            for _ in range(16)]
    for i in range(50):
        env.step(bank[i % 16])
    rates = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(400):
            env.step(bank[i % 16])
        rates.append(400 * args.num_envs / (time.perf_counter() - start))
    print(f"{evo_marl.__file__}: sub-env steps/s median {np.median(rates):.0f}, best {max(rates):.0f}")


if __name__ == "__main__":
    main()
