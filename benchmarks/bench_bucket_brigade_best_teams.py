"""The best learned Bucket Brigade team per scenario, across every population trained for it, against `all_work`.

    python benchmarks/bench_bucket_brigade_best_teams.py [--roots populations/bench_bb_scenarios ...]
        [--choose-episodes 1000] [--episodes 1000] [--seed 10000] [--out benchmarks/results/bucket_brigade_best_teams.md]

Each root is a folder of per-scenario runs as ``bench_bucket_brigade_scenarios.py`` trains them
(``ROOT/<scenario>``; any config: team IPPO, MATD3, leagues). For every scenario, every run found offers its two
teams (the best member in all four seats, the four best members one per seat), each scored on the same
``--choose-episodes`` choosing episodes (seed ``--seed`` + 1; 1000 by default: the candidates differ by a few points
a night, and 200 episodes, the scenario bench's choice within one run, leave a 95 % interval of about ±5).
The team with the best choosing score across all runs is the scenario's *best learned team*; only it is then
measured, on ``--episodes`` fresh episodes (seed ``--seed``), against the homogeneous ``all_work`` team (wins /
ties / loses: 95 % intervals above / overlapping / below). Choosing on other episodes than those measured keeps
the many candidates from flattering the verdict.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import date
from pathlib import Path

import torch

from evo_marl.envs.bucket_brigade.scenarios import list_scenarios
from bench_bucket_brigade_learning import Interval, verdict
from bench_bucket_brigade_scenarios import all_work_interval, candidate_teams, verdict_rows, work_fraction
from results_file import write_results

DEFAULT_ROOTS = ("populations/bench_bb_scenarios", "populations/bench_bb_egocentric",
                 "populations/bench_bb_scenarios_1200k", "populations/bench_bb_scenarios_pop8",
                 "populations/bench_bb_fire_ranks", "populations/bench_bb_matd3_epg", "populations/bench_bb_selfish",
                 "populations/bench_bb_league_team", "populations/bench_bb_league_matd3_epg")


def run_description(run_dir: Path) -> str:
    """What trained a run, from its ``config.yaml``: algorithm, population, league, env options."""
    import yaml

    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    parts = [f"{config.get('algo', '?')} x {config.get('population_size', '?')}"]
    if config.get("league"):
        parts.append("league")
    parts += [f"{k}={v}" for k, v in sorted(((config.get("env") or {}).get("kwargs") or {}).items())]
    steps = (config.get("training") or {}).get("max_steps")
    return ", ".join(parts + ([f"{steps:,} steps"] if steps else []))


def best_team_row(scenario: str, roots: list[Path], episodes: int, seed: int, choose_episodes: int) -> tuple[str, str]:
    """The table row of one scenario and its verdict (``missing`` when no root holds a run of it)."""
    found = [(root, c) for root in roots if (root / scenario).is_dir()
             for c in candidate_teams(scenario, root / scenario, seed, choose_episodes)]
    if not found:
        return f"| {scenario} | 0 | not trained |" + " |" * 6, "missing"
    root, best = max(found, key=lambda rc: rc[1].score)
    result = best.play(scenario, episodes, seed)
    measured = Interval.of(result.per_night)
    base, base_work = all_work_interval(scenario, episodes, seed)
    outcome = verdict(measured, base)
    return (f"| {scenario} | {len(found)} | `{root.name}` ({run_description(root / scenario)}) | {best.name} | "
            f"{best.score:.1f} | {measured} | {work_fraction(result):.2f} | {base} | {outcome} |"), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", nargs="+", default=list(DEFAULT_ROOTS))
    parser.add_argument("--scenarios", nargs="+", default=list_scenarios(), choices=list_scenarios())
    parser.add_argument("--choose-episodes", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--out", default="benchmarks/results/bucket_brigade_best_teams.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    roots = [Path(r) for r in args.roots]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        parser.error(f"--roots: no such folder: {', '.join(missing)}")
    lines = ["# Bucket Brigade: the best learned team per scenario against `all_work`", "",
             f"Command: `python benchmarks/bench_bucket_brigade_best_teams.py --roots {' '.join(args.roots)} "
             f"--choose-episodes {args.choose_episodes} --episodes {args.episodes}"
             + ("" if args.scenarios == list_scenarios() else " --scenarios " + " ".join(args.scenarios)) + "`  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, torch {torch.__version__} (1 thread)", "",
             "Every run of the scenario under the roots offers two teams from its final generation (best member in "
             "all four seats; the four best members one per seat, rotated round the seats); *candidates* counts them. "
             f"The one with the best mean on {args.choose_episodes} choosing episodes (seed {args.seed + 1}) is "
             "measured on "
             f"{args.episodes} fresh episodes (seed {args.seed}): team reward per night, mean ± 95% CI half-width, "
             "next to the homogeneous `all_work` team on the same episodes. Work: share of agent-nights the team "
             "spent working.", "",
             "| scenario | candidates | run root (config) | best learned team | choosing score | measured | work | "
             "all_work | verdict |", "|---|---:|---|---|---:|---:|---:|---:|---|"]
    lines += verdict_rows((best_team_row(s, roots, args.episodes, args.seed, args.choose_episodes)
                           for s in args.scenarios), len(args.scenarios), "The best learned team ties or beats")
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
