"""One IPPO population per Bucket Brigade scenario against the best scripted team, on all twelve scenarios.

    python benchmarks/bench_bucket_brigade_scenarios.py [--config bucket_brigade_team_ippo]
        [--scenarios default easy ...] [--root populations/bench_bb_scenarios] [--jobs 2]
        [--episodes 1000] [--seed 10000] [--set training.max_steps=1200000 ...] [--report-only]
        [--out benchmarks/results/bucket_brigade_scenarios[_<config>].md]

For every scenario a population is trained with ``evo-marl train CONFIG --set env.id=bucket_brigade/<scenario>``
in ``ROOT/<scenario>`` (``--jobs`` runs at once, each in its own process; a finished run is reused and an
interrupted one resumed from its newest checkpoint). From each final generation two learned teams play: the
best member in all four seats (homogeneous) and the four best members one per seat, rotated round the seats
(mixed). The better team on 200 episodes (seed ``--seed`` + 1) is *chosen* and both are *measured* on
``--episodes`` fresh ones (seed ``--seed``) against the homogeneous ``all_work`` team, the best of the shipped
scripted teams on every scenario (wins / ties / loses: 95 % intervals above / overlapping / below). ``--report-only``
evaluates whatever the run folders hold without training. ``--set KEY=VALUE`` (repeatable) overrides a config
field of every run, as ``evo-marl train --set`` does: ``--set training.max_steps=1200000`` on a root of finished
600k runs continues them from their last checkpoint to 1.2M env steps per member.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import torch

from evo_marl.config import load_config
from evo_marl.envs.bucket_brigade.baselines import run_cell
from evo_marl.envs.bucket_brigade.scenarios import list_scenarios
from evo_marl.league.crossplay import play_lineup
from evo_marl.league.report import run_play_options
from evo_marl.training import checkpoint as ckpt
from bench_bucket_brigade_learning import Interval, verdict
from results_file import write_results

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = "bucket_brigade_team_ippo"


def train_command(config: str, scenario: str, run_dir: Path, overrides: Sequence[str] = ()) -> list[str]:
    # resume an interrupted run; start over in a folder that an early interruption left without a checkpoint
    if ckpt.latest_generation(run_dir) is not None:
        resume = ["--resume"]
    else:
        resume = ["--overwrite"] if run_dir.exists() else []
    return [sys.executable, "-m", "evo_marl.cli", "train", config, "--set", f"env.id=bucket_brigade/{scenario}",
            *[arg for item in overrides for arg in ("--set", item)], "--run-dir", str(run_dir), "--quiet", *resume]


def finished(run_dir: Path, max_steps: int) -> bool:
    latest = ckpt.latest_generation(run_dir)
    if latest is None:
        return False
    manifest = ckpt.read_manifest(latest)
    return min(m["steps"][-1] for m in manifest["members"]) >= max_steps or manifest.get("stop_reason") is not None


def train_all(config: str, scenarios: list[str], root: Path, jobs: int, overrides: Sequence[str] = ()) -> dict[str, float]:
    """Train the missing runs, ``jobs`` at a time; returns each started run's wall time in seconds."""
    max_steps = load_config(REPO / "configs" / f"{config}.yaml", list(overrides)).training.max_steps
    todo = [s for s in scenarios if not finished(root / s, max_steps)]
    running: dict[str, tuple[subprocess.Popen, float, object]] = {}
    walls: dict[str, float] = {}
    root.mkdir(parents=True, exist_ok=True)
    while todo or running:
        while todo and len(running) < jobs:
            scenario = todo.pop(0)
            log = open(root / f"{scenario}.log", "a")
            running[scenario] = (subprocess.Popen(train_command(config, scenario, root / scenario, overrides), cwd=REPO,
                                                  stdout=log, stderr=subprocess.STDOUT), time.perf_counter(), log)
            print(f"training {scenario} -> {root / scenario}", flush=True)
        for scenario, (proc, started, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[scenario]
                walls[scenario] = time.perf_counter() - started
                status = "done" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}, see {scenario}.log)"
                print(f"{scenario}: {status} after {walls[scenario]:.0f} s", flush=True)
        time.sleep(2)
    return walls


def work_fraction(result) -> float:
    return float(np.mean(result.work.sum(axis=1) / (result.work.shape[1] * np.maximum(result.nights, 1))))


@dataclass
class Candidate:
    """A learned team of a run: its players, whether the lineup rotates round the seats, the env options the
    members play with, and its mean team reward per night on the 200 choosing episodes."""

    name: str
    lineup: list
    rotate: bool
    options: dict
    score: float

    def play(self, scenario: str, episodes: int, seed: int):
        return play_lineup(self.lineup, scenario, episodes, seed, rotate=self.rotate, env_kwargs=self.options)


def candidate_teams(scenario: str, run_dir: Path, seed: int, episodes: int = 200) -> list[Candidate]:
    """The homogeneous and the mixed team of a run's final generation, scored on ``episodes`` choosing episodes
    (seed ``seed + 1``); empty when the run has no generation yet."""
    latest = ckpt.latest_generation(run_dir)
    if latest is None:
        return []
    population = ckpt.load_population(latest)
    options = run_play_options(run_dir)  # e.g. egocentric: the members observe what they were trained on

    def choosing_score(lineup: list, rotate: bool) -> float:
        result = play_lineup(lineup, scenario, episodes, seed + 1, rotate=rotate, env_kwargs=options)
        return float(result.per_night.mean())

    scored = sorted(((choosing_score([m] * 4, False), m) for m in population), key=lambda p: -p[0])
    ranked = [m for _, m in scored]  # the four best members, one per seat, rotated round the seats
    mixed = [ranked[i % len(ranked)] for i in range(4)]  # (a population of 2-3 fills the seats in turn)
    return [Candidate(f"m{mixed[0].index} x 4", [mixed[0]] * 4, False, options, scored[0][0]),
            Candidate("mixed " + ",".join(f"m{m.index}" for m in mixed), mixed, True, options,
                      choosing_score(mixed, True))]


def all_work_interval(scenario: str, episodes: int, seed: int) -> tuple[Interval, float]:
    """``all_work``'s team reward per night on the measuring episodes, and its share of agent-nights worked."""
    base = run_cell(scenario, "all_work", episodes, seed=seed)
    return Interval.of(base["team_reward_per_night"]), float(np.mean(base["work_fraction"]))


def scenario_row(scenario: str, run_dir: Path, episodes: int, seed: int) -> tuple[str, str]:
    """The table row of one scenario: the best homogeneous team and the mixed team, the chosen one's verdict."""
    candidates = candidate_teams(scenario, run_dir, seed)
    if not candidates:
        return f"| {scenario} | not trained |" + " |" * 8, "missing"
    manifest = ckpt.read_manifest(ckpt.latest_generation(run_dir))
    choice = max(candidates, key=lambda c: c.score)
    results = {c.name: c.play(scenario, episodes, seed) for c in candidates}
    measured = {name: Interval.of(r.per_night) for name, r in results.items()}
    best, best_work = all_work_interval(scenario, episodes, seed)
    outcome = verdict(measured[choice.name], best)
    steps = min(m["steps"][-1] for m in manifest["members"])
    wall = float(manifest.get("wall_time", float("nan")))
    (homo_name, homo), (mixed_name, mix) = measured.items()
    return (f"| {scenario} | {steps:,} | {wall:.0f} | {homo_name}: {homo} | {mixed_name}: {mix} | {choice.name} | "
            f"{work_fraction(results[choice.name]):.2f} | {best} | {best_work:.2f} | {outcome} |"), outcome


def verdict_rows(rows: Iterable[tuple[str, str]], total: int, lead: str) -> list[str]:
    """Table rows from ``(row, verdict)`` pairs (each printed as it comes) and the tally line after them."""
    lines, tally = [], {}
    for row, outcome in rows:
        tally[outcome] = tally.get(outcome, 0) + 1
        lines.append(row)
        print(row, flush=True)
    good = tally.get("wins", 0) + tally.get("ties", 0)
    return lines + ["", f"{lead} `all_work` on **{good} of {total}** scenarios "
                        f"({tally.get('wins', 0)} wins, {tally.get('ties', 0)} ties, {tally.get('loses', 0)} losses"
                        + (f", {tally['missing']} not trained" if tally.get("missing") else "") + ").", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--scenarios", nargs="+", default=list_scenarios(), choices=list_scenarios())
    parser.add_argument("--root", default="populations/bench_bb_scenarios")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a config field of every run (repeatable), e.g. training.max_steps=1200000")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--out", default=None, help="default: benchmarks/results/bucket_brigade_scenarios.md for the "
                        "default config, bucket_brigade_scenarios_<config without 'bucket_brigade_'>.md for any other "
                        "(so a run of another config never overwrites the default config's table)")
    args = parser.parse_args()
    if args.out is None:
        suffix = "" if args.config == DEFAULT_CONFIG else "_" + args.config.removeprefix("bucket_brigade_")
        args.out = f"benchmarks/results/bucket_brigade_scenarios{suffix}.md"
    torch.set_num_threads(1)
    root = Path(args.root).resolve()
    if not args.report_only:
        train_all(args.config, args.scenarios, root, args.jobs, args.overrides)
    lines = ["# Bucket Brigade: one learned population per scenario against `all_work`", "",
             f"Command: `python benchmarks/bench_bucket_brigade_scenarios.py --config {args.config} "
             f"--root {args.root} --episodes {args.episodes}"
             + ("" if args.scenarios == list_scenarios() else " --scenarios " + " ".join(args.scenarios))
             + "".join(f" --set {item}" for item in args.overrides) + "`  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, torch {torch.__version__} (1 thread per run, "
             f"{args.jobs} runs at once)", "",
             f"Config `configs/{args.config}.yaml` with `--set env.id=bucket_brigade/<scenario>`"
             + "".join(f" `--set {item}`" for item in args.overrides) + ". Two learned teams "
             "per scenario from the final generation: the best member in all four seats (*homogeneous*) and the "
             "four best members one per seat, rotated round the seats (*mixed*; distinct members split the fires "
             f"where one policy in every seat sends everyone to the same house). The better of the two on 200 "
             f"episodes (seed {args.seed + 1}) is *chosen*; both are measured on {args.episodes} fresh episodes (seed "
             f"{args.seed}): team reward per night, mean ± 95% CI half-width, next to the homogeneous `all_work` "
             "team. Work: share of agent-nights the chosen team spent working.", "",
             "| scenario | steps / member | train wall (s) | homogeneous | mixed | chosen | work | all_work | "
             "all_work work | verdict |", "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    lines += verdict_rows((scenario_row(s, root / s, args.episodes, args.seed) for s in args.scenarios),
                          len(args.scenarios), "Ties or beats")
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
