"""Random kill -9 / resume cycles: does every killed run end exactly as the uninterrupted one?

    python benchmarks/bench_kill_resume.py [--cycles 20] [--seed 0] [--out benchmarks/results/kill_resume.md]

One uninterrupted reference run of a tiny experiment (tests/kill_resume.py: MATD3, 3 members, 5 generations,
checkpoints rotated to the newest 2), then ``--cycles`` cycles. A cycle starts a fresh run and kills it with
SIGKILL, either from outside after a random time in [0.05, 1] x the reference's wall time, or from inside at
a random call (before a random ``torch.save`` of a checkpoint file, after a random ``os.replace`` of the run
folder, or inside a random learning step: tests/faulty_train.py). It then resumes; each resume is itself
killed at a random time with probability 0.3 (at most 3 kills a cycle), and the last one runs to the end.
After every kill, every generation folder and best/ must load; at the end the outcome (fitness history,
every metrics.csv row except timings, final weights, best/ and no leftover temporary files) must equal the
reference's. Target (issue 15): 20 of 20 identical, 0 unloadable generation folders.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))
from kill_resume import differences, outcome, run, unloadable_generations, write_config  # noqa: E402
from results_file import write_results  # noqa: E402

LEARN = "evo_marl.population.phases:BatchedOffPolicyPhase._learn_all"  # once per vector step: 20 a generation


def random_kill(rng: np.random.Generator, wall: float) -> tuple[str, list[str], float | None]:
    """(description, faults, seconds until an outside SIGKILL) of one random kill."""
    mode = rng.integers(4)
    if mode == 0:
        delay = float(rng.uniform(0.05, 1.0) * wall)
        return f"timer {delay:.1f} s", [], delay
    if mode == 1:
        nth = int(rng.integers(1, 23))  # 5 generations x (3 members + buffer) plus 2 best/ writes
        return f"before torch.save #{nth}", [f"kill@torch:save#{nth}"], None
    if mode == 2:
        nth = int(rng.integers(1, 11))  # probe, config.yaml, best/ (1 + 2), 5 generation folders
        return f"after os.replace #{nth}", [f"kill-after@os:replace#{nth}"], None
    nth = int(rng.integers(1, 101))  # 20 learning calls a generation
    return f"learning step #{nth}", [f"kill@{LEARN}#{nth}"], None


def cycle(config: Path, run_dir: Path, rng: np.random.Generator, wall: float, expected: dict) -> dict:
    kills, unloadable, attempts, missed = [], 0, 0, 0
    description, faults, delay = random_kill(rng, wall)
    resume = False
    while True:
        attempts += 1
        code = run(config, run_dir, *faults, resume=resume, kill_after_s=delay)
        if code == 0 and not kills:  # the drawn call never came (e.g. a rename number past the run's last)
            missed += 1
            attempts = 0
            shutil.rmtree(run_dir)
            description, faults, delay = random_kill(rng, wall)
            continue
        if code == 0:
            break
        kills.append(description)
        unloadable += len(unloadable_generations(run_dir))
        resume = True
        if len(kills) < 3 and rng.random() < 0.3:
            delay = float(rng.uniform(0.05, 1.0) * wall)
            description, faults = f"resume killed by timer {delay:.1f} s", []
        else:
            description, faults, delay = "", [], None
    diffs = differences(outcome(run_dir), expected)
    return {"kills": kills, "runs": attempts, "unloadable": unloadable, "diffs": diffs, "missed": missed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "results" / "kill_resume.md"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    load_before, started = os.getloadavg()[0], time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="evo_marl_kill_"))
    try:
        config = write_config(work)
        t0 = time.perf_counter()
        run(config, work / "reference")
        wall = time.perf_counter() - t0
        expected = outcome(work / "reference")
        rows = []
        for c in range(args.cycles):
            result = cycle(config, work / f"cycle_{c:02d}", rng, wall, expected)
            rows.append(result)
            print(f"cycle {c + 1}/{args.cycles}: {'identical' if not result['diffs'] else result['diffs']}; "
                  f"kills: {'; '.join(result['kills'])}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    identical = sum(not r["diffs"] for r in rows)
    killed = sum(r["runs"] - 1 for r in rows)
    unloadable = sum(r["unloadable"] for r in rows)
    missed = sum(r["missed"] for r in rows)
    lines = [
        "# kill -9 / resume cycles", "",
        f"Command: `python benchmarks/bench_kill_resume.py --cycles {args.cycles} --seed {args.seed}`  ",
        f"Date: {datetime.date.today()}  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other work, Python "
        f"{platform.python_version()}; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; "
        f"{time.perf_counter() - started:.0f} s in all, reference run {wall:.1f} s (wall, process start included)",
        "",
        f"**{identical} of {args.cycles} cycles ended identical to the uninterrupted run**; {killed} kills in all; "
        f"**{unloadable} unloadable generation folders** (checked after every kill). {missed} drawn kill points "
        "lay past the end of the run (the run finished) and were drawn again.", "",
        "Identical: the fitness history, every metrics.csv row (all columns but timings), the final population's "
        "weights, the best/ checkpoint (member and fitness) and no leftover temporary file.", "",
        "| cycle | kills (in order) | processes | unloadable | outcome |", "|---|---|---|---|---|",
    ]
    for c, r in enumerate(rows, 1):
        result = "identical" if not r["diffs"] else "differs: " + ", ".join(r["diffs"])
        lines.append(f"| {c} | {'; '.join(r['kills'])} | {r['runs']} | {r['unloadable']} | {result} |")
    print(write_results(args.out, lines))
    return 0 if identical == args.cycles and unloadable == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
