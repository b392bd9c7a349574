"""The best member against the population acting as an ensemble, paired on the same runs and episodes.

    python benchmarks/bench_ensemble.py RUN_DIR [RUN_DIR ...] [--env atc/random] [--counts 2 4] [--episodes 1000]
        [--sizes 1 2 all g3] [--reset-seed 10000] [--out benchmarks/results/atc_generalisation_ensemble.md]

For every run folder (its newest complete generation) each actor plays the same held-out episodes of ``--env``
(reset seed 10_000 + aircraft count, ``num_aircraft`` = each of ``--counts``; the ATC generalisation benchmark's
held-out traffic; ``--reset-seed 30000`` gives its validation episodes instead, for choosing an actor): size 1 is
the best member by the run's fitness (what ``evo-marl evaluate`` scores for a run that deploys its best member),
size k the k fittest members acting together (:class:`~evo_marl.algorithms.ensemble.EnsemblePolicy`, the mean of
their actions), ``all`` every member (``output.deploy: ensemble``), ``gN`` every member of the run's last N kept
generations (a snapshot ensemble: the population at N successive checkpoints). The report gives, per run and
count, the LoS risk and the waypoint fraction of each actor, and per count the mean over runs and how many runs
each ensemble made safer than the best member. ``--across-runs`` adds one more actor: the best members of all the
runs acting together (members of independent runs, not of one population). Evaluation only: nothing is trained.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import date
from pathlib import Path

import numpy as np
import torch

from evo_marl.cross_evaluation import cross_evaluate, open_run, recent_members
from evo_marl.envs.registry import family_of
from evo_marl.envs.atc.metrics import SEPARATION_NM
from results_file import code_version, write_results

HELD_OUT_SEED = 10_000


def evaluate(run_dir: Path, env_id: str, counts: list[int], sizes: list[str], episodes: int,
             reset_seed: int = HELD_OUT_SEED) -> dict:
    """``{(count, size): (los_risk, waypoint_fraction)}`` of one run."""
    out = {}
    for n in counts:
        for size in sizes:
            source, options, ensemble = run_dir, {}, int(size) if size.isdigit() else True  # all, gN: every member
            if size.startswith("g"):  # a snapshot ensemble: the members of the last N kept generations
                source, _ = recent_members(run_dir, int(size[1:]))
                options = _training_options(run_dir, env_id)
            [r] = cross_evaluate(source, [env_id], episodes=episodes, seed=reset_seed + n,
                                 env_kwargs={**options, "num_aircraft": n}, ensemble=ensemble, references=False)
            out[n, size] = (r.metrics["los_risk"], r.metrics["waypoint_fraction"])
            print(f"{run_dir} {n} aircraft, {size}: LoS risk {out[n, size][0]:.1%}, waypoints "
                  f"{out[n, size][1]:.1%} ({r.member})", flush=True)
    return out


def _training_options(run_dir: Path, env_id: str) -> dict:
    """The options of the run's training env that carry over to ``env_id`` (its observation options)."""
    transfer = family_of(env_id).transfer_options or (lambda kwargs: {})
    return transfer(open_run(run_dir).config.env.kwargs)


def evaluate_across_runs(runs: list[Path], env_id: str, counts: list[int], episodes: int,
                         reset_seed: int = HELD_OUT_SEED) -> dict:
    """``{count: (los_risk, waypoint_fraction)}`` of the runs' best members acting together."""
    opened = [open_run(run) for run in runs]
    options = _training_options(runs[0], env_id)  # the first run's observation options (the runs must share them)
    out = {}
    for n in counts:
        [r] = cross_evaluate([run.best for run in opened], [env_id], episodes=episodes, seed=reset_seed + n,
                             env_kwargs={**options, "num_aircraft": n}, ensemble=True, references=False)
        out[n] = (r.metrics["los_risk"], r.metrics["waypoint_fraction"])
        print(f"best members of {len(runs)} runs together, {n} aircraft: LoS risk {out[n][0]:.1%}, waypoints "
              f"{out[n][1]:.1%}", flush=True)
    return out


def _label(size: str) -> str:
    if size.startswith("g"):
        return f"last {size[1:]} generations"
    return "best member" if size == "1" else "every member" if size == "all" else f"{size} fittest"


def report(results: dict[Path, dict], args, command: str, across: dict | None = None) -> list[str]:
    lines = ["# The best member against the population acting as an ensemble", "",
             f"Measured {date.today().isoformat()} on {platform.processor() or platform.machine()} (2 CPU cores, "
             f"torch 1 thread; evaluation only), code {code_version()}, with", "", f"    {command}", "",
             f"{'Held-out' if args.reset_seed == HELD_OUT_SEED else 'Validation'} `{args.env}` episodes "
             f"({args.episodes} per aircraft count, reset seed {args.reset_seed} + count), "
             "the same for every actor of a run. Cells: LoS risk (episodes with a separation under "
             f"{SEPARATION_NM:g} NM) / waypoint fraction. An ensemble is the run's fittest members of its newest "
             "generation acting together (`EnsemblePolicy`: the mean of their actions); *last N generations*: every "
             "member of the run's last N kept generations acting together.", ""]
    sizes = args.sizes
    for n in args.counts:
        lines += [f"## {n} aircraft", "", "| run | " + " | ".join(_label(s) for s in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for run_dir, cells in results.items():
            lines.append(f"| `{run_dir}` | " + " | ".join(
                f"{cells[n, s][0]:.1%} / {cells[n, s][1]:.1%}" for s in sizes) + " |")
        means = [np.mean([cells[n, s] for cells in results.values()], axis=0) for s in sizes]  # (LoS, waypoints)
        lines.append(f"| **mean of {len(results)} runs** | " + " | ".join(
            f"**{los:.1%} / {waypoints:.1%}**" for los, waypoints in means) + " |")
        if "1" in sizes:
            lines += [""]
            for s in sizes:
                if s == "1":
                    continue
                safer = sum(cells[n, s][0] < cells[n, "1"][0] for cells in results.values())
                worse = sum(cells[n, s][0] > cells[n, "1"][0] for cells in results.values())
                lines.append(f"- {_label(s)}: lower LoS risk than the best member on {safer} of {len(results)} runs, "
                             f"higher on {worse}.")
        if across:
            lines += ["", f"The best members of the {len(results)} runs acting together (`--across-runs`): "
                          f"{across[n][0]:.1%} / {across[n][1]:.1%}."]
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (their newest complete generation)")
    parser.add_argument("--env", default="atc/random")
    parser.add_argument("--counts", type=int, nargs="+", default=[2, 4], help="aircraft per episode (num_aircraft)")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--sizes", nargs="+", default=["1", "2", "all"],
                        help="actors: 1 = the best member, k = the k fittest together, all = every member, "
                             "gN = every member of the last N kept generations")
    parser.add_argument("--reset-seed", type=int, default=HELD_OUT_SEED,
                        help=f"episodes of reset seed RESET_SEED + count (default {HELD_OUT_SEED}: held out; "
                             "30000: the generalisation benchmark's validation episodes)")
    parser.add_argument("--across-runs", action="store_true",
                        help="also the best members of all the runs acting together")
    parser.add_argument("--out", default="benchmarks/results/atc_generalisation_ensemble.md")
    args = parser.parse_args(argv)
    for size in args.sizes:
        number = size[1:] if size.startswith("g") else size
        if size != "all" and not (number.isdigit() and int(number) >= 1):
            parser.error(f"--sizes {size}: must be a number of members >= 1, 'all' or g<generations>, e.g. g3")
    torch.set_num_threads(1)
    results = {run: evaluate(run, args.env, args.counts, args.sizes, args.episodes, args.reset_seed)
               for run in args.runs}
    across = (evaluate_across_runs(args.runs, args.env, args.counts, args.episodes, args.reset_seed)
              if args.across_runs else None)
    command = "python benchmarks/bench_ensemble.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"written to {write_results(args.out, report(results, args, command, across))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
