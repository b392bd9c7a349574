"""Replays PBT's t-test selection on random-search runs: would it have culled the member that went on to solve?

    python benchmarks/ttest_replay.py --root populations/bench_base [--tasks atc_canonical_crossing ...]
        [--window 4] [--significance 0.05]

Random search (``bench_hpo.py --methods random``) trains every member independently, so its ``metrics.csv``
holds each member's evaluation history untouched by selection. For each such run this prints the member with the
best evaluation (the one that went on to solve, or came closest), and for every generation until it first scored
its best: the chance that a uniformly drawn opponent would pass the one-sided Welch's test against it (the chance
that :class:`~evo_marl.hpo.TTestSelection` replaces it) and the expected number of members replaced in that
generation. A tournament (size 2, elitism) replaces a member whenever it loses the draws that fill its place.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from evo_marl.hpo.ttest import significantly_greater


def histories(run_dir: Path) -> dict[int, list[float]]:
    """Each member's fitness per generation, from a run without selection (indices never change)."""
    out: dict[int, list[float]] = {}
    with open(run_dir / "metrics.csv") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(int(row["index"]), []).append(float(row["fitness"]))
    return out


def replay(traj: dict[int, list[float]], window: int,
           significance: float) -> tuple[int, list[tuple[float, float, float]]]:
    """``(solver, [(its evaluation, chance it is replaced, expected members replaced) per generation])`` for the
    evaluation histories ``traj`` of one run (:func:`histories`)."""
    best = {k: max(v) for k, v in traj.items()}
    solver = max(best, key=best.get)
    rows = []
    for g in range(len(traj[solver])):
        recent = {k: v[max(0, g + 1 - window):g + 1] for k, v in traj.items()}

        def chance(k: int) -> float:
            return float(np.mean([significantly_greater(recent[j], recent[k], significance) for j in traj if j != k]))

        rows.append((traj[solver][g], chance(solver), sum(chance(k) for k in traj)))
        if traj[solver][g] >= best[solver]:
            break
    return solver, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="a bench_hpo root with random-search cells")
    parser.add_argument("--tasks", nargs="*", default=None, help="task names (default: every task found)")
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--significance", type=float, default=0.05)
    args = parser.parse_args()
    runs = sorted(p for p in (args.root / "runs").glob("*__random__s*") if (p / "metrics.csv").exists())
    for run in runs:
        if args.tasks and run.name.split("__")[0] not in args.tasks:
            continue
        traj = histories(run)
        solver, rows = replay(traj, args.window, args.significance)
        culled = 1.0 - float(np.prod([1.0 - p for _, p, _ in rows]))
        print(f"{run.name}: member {solver} (best {max(r[0] for r in rows):.1f}), "
              f"chance the t-test culls it before its best: {culled:.2f}; replaced per generation "
              f"{np.mean([r[2] for r in rows]):.1f} of {len(traj)}")
        print("   " + " ".join(f"{value:.0f}:{p:.2f}" for value, p, _ in rows))


if __name__ == "__main__":
    main()
