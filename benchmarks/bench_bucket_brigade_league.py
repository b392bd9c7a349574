"""League benchmarks on Bucket Brigade: self-play and ad-hoc teams of a league, and the 12-scenario table.

    python benchmarks/bench_bucket_brigade_league.py [--train] [--episodes 1000]
        [--league populations/bench_league/bucket_brigade_league]
        [--generalist populations/bench_league/bucket_brigade_league_all_scenarios]
        [--homogeneous default=RUN_DIR ...] [--off-policy RUN_DIR ...]
        [--league-only] [--out benchmarks/results/bucket_brigade_league.md]

With ``--train`` the two league runs are trained first from ``configs/bucket_brigade_league.yaml`` and
``configs/bucket_brigade_league_all_scenarios.yaml`` (budgets as written there); otherwise the newest
checkpoint of each run folder is evaluated (so a run can be benchmarked while, or after, it trains).

1. **League on default**: every member of the newest generation in a self-play team (all four seats) and
   in ad-hoc teams (one seat, three ``all_work`` or ``coordinator`` teammates; the learned seat rotates),
   ``--episodes`` episodes each, against the targets (>= 360 and >= 340 a night).
2. **Twelve scenarios**: on each scenario the best learned team among the candidates (every member of the
   generalist league; the league on default; ``--homogeneous`` runs of that scenario) is *chosen* on 200
   separate episodes and then *measured* on ``--episodes`` fresh ones against ``all_work`` (wins / ties /
   loses: 95% intervals above / overlapping / below).
3. **Off-policy on default** (``--off-policy``): the best member (by the run's fitness) of each given MADDPG /
   MATD3 run in a self-play team on ``--episodes`` episodes, against the target (>= 360 a night within 200k env
   steps per member).
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import date
from pathlib import Path

import torch

from evo_marl.config import load_config
from evo_marl.envs.bucket_brigade.baselines import run_cell
from evo_marl.envs.bucket_brigade.scenarios import list_scenarios
from evo_marl.experiment import run_experiment
from evo_marl.league.crossplay import play_lineup
from evo_marl.training import checkpoint as ckpt
from bench_bucket_brigade_learning import Interval, verdict
from results_file import write_results

SELF_PLAY_TARGET, ADHOC_TARGET = 360.0, 340.0


def newest(run_dir: Path) -> tuple[list, dict, Path]:
    latest = ckpt.latest_generation(run_dir)
    if latest is None:
        raise SystemExit(f"{run_dir}: no checkpoint (train it first, or pass --train)")
    return ckpt.load_population(latest), ckpt.read_manifest(latest), latest


def team(member, scenario: str, episodes: int, seed: int) -> Interval:
    return Interval.of(play_lineup([member] * 4, scenario, episodes, seed, rotate=False).per_night)


def adhoc(member, partner: str, scenario: str, episodes: int, seed: int) -> Interval:
    return Interval.of(play_lineup([member] + [partner] * 3, scenario, episodes, seed).per_night)


def run_info(manifest: dict, where: Path) -> str:
    steps = min(m["steps"][-1] for m in manifest["members"])
    return f"`{where}` (generation {manifest['generation']}, {steps:,} env steps per member)"


def league_section(run_dir: Path, episodes: int, seed: int) -> list[str]:
    pop, manifest, where = newest(run_dir)
    lines = ["## League of IPPO members on `default`", "",
             f"Run: {run_info(manifest, where)}. Team reward per night over {episodes} episodes, mean ± 95% CI "
             f"half-width. Targets: self-play >= {SELF_PLAY_TARGET:.0f}, ad-hoc >= {ADHOC_TARGET:.0f} (a target is "
             "*met* when the mean reaches it).", "",
             "| member | self-play team | ad-hoc with 3 x all_work | ad-hoc with 3 x coordinator | targets met |",
             "|---|---:|---:|---:|---|"]
    met_all = True
    for member in pop:
        solo = team(member, "default", episodes, seed)
        with_work = adhoc(member, "all_work", "default", episodes, seed)
        with_coord = adhoc(member, "coordinator", "default", episodes, seed)
        met = solo.mean >= SELF_PLAY_TARGET and min(with_work.mean, with_coord.mean) >= ADHOC_TARGET
        met_all &= met
        lines.append(f"| m{member.index} | {solo} | {with_work} | {with_coord} | {'yes' if met else 'no'} |")
        print(lines[-1], flush=True)
    lines += ["", f"Every member meets both targets: **{'yes' if met_all else 'no'}**.", ""]
    return lines


def scenario_section(candidates: list[tuple[str, object]], episodes: int, seed: int,
                     homogeneous: dict[str, list[tuple[str, object]]]) -> list[str]:
    lines = ["## Best learned team vs `all_work` on the twelve scenarios", "",
             "Candidates: " + ", ".join(sorted({c[0].split(':')[0] for c in candidates})) +
             (", homogeneous runs " + ", ".join(sorted(homogeneous)) if homogeneous else "") +
             f". Chosen on 200 episodes (seed {seed + 1}), measured on {episodes} fresh episodes (seed {seed}).", "",
             "| scenario | best learned team | learned | all_work | verdict |", "|---|---|---:|---:|---|"]
    tally = {"wins": 0, "ties": 0, "loses": 0}
    for scenario in list_scenarios():
        pool = candidates + homogeneous.get(scenario, [])
        picks = [(team(m, scenario, 200, seed + 1).mean, name, m) for name, m in pool]
        _, name, member = max(picks, key=lambda p: p[0])
        learned = team(member, scenario, episodes, seed)
        base = Interval.of(run_cell(scenario, "all_work", episodes, seed=seed)["team_reward_per_night"])
        v = verdict(learned, base)
        tally[v] += 1
        lines.append(f"| {scenario} | {name} | {learned} | {base} | {v} |")
        print(lines[-1], flush=True)
    lines += ["", f"Ties or beats `all_work` on **{tally['wins'] + tally['ties']} of 12** scenarios "
                  f"({tally['wins']} wins, {tally['ties']} ties, {tally['loses']} losses).", ""]
    return lines


def off_policy_section(runs: list[str], episodes: int, seed: int) -> list[str]:
    from evo_marl.hpo.fitness import best_member

    lines = ["## MADDPG / MATD3 on `default`", "",
             "| run | algo | expected_pg | steps / member | best member | team reward per night | >= 360 |",
             "|---|---|---|---:|---|---:|---|"]
    for run in runs:
        pop, manifest, where = newest(Path(run))
        member = best_member(pop, int(manifest.get("fitness_window", 1)))
        value = team(member, "default", episodes, seed)
        steps = min(m["steps"][-1] for m in manifest["members"])
        lines.append(f"| `{where}` | {member.algo_name} | {getattr(member, 'expected_pg', False)} | {steps:,} | "
                     f"m{member.index} | {value} | {'yes' if value.mean >= SELF_PLAY_TARGET else 'no'} |")
        print(lines[-1], flush=True)
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--league", default="populations/bench_league/bucket_brigade_league")
    parser.add_argument("--generalist", default="populations/bench_league/bucket_brigade_league_all_scenarios")
    parser.add_argument("--homogeneous", nargs="*", default=[], metavar="SCENARIO=RUN_DIR")
    parser.add_argument("--off-policy", nargs="*", default=[], metavar="RUN_DIR")
    parser.add_argument("--league-only", action="store_true", help="only the league section (no twelve scenarios)")
    parser.add_argument("--out", default="benchmarks/results/bucket_brigade_league.md")
    args = parser.parse_args()
    defaults = {a.dest: a.default for a in parser._actions}
    torch.set_num_threads(1)
    if args.train:
        runs = [("bucket_brigade_league", args.league)]
        if not args.league_only:
            runs.append(("bucket_brigade_league_all_scenarios", args.generalist))
        for name, run in runs:
            config = load_config(Path("configs") / f"{name}.yaml")
            config.name, config.output.root = Path(run).name, str(Path(run).parent)
            run_experiment(config, overwrite=True, verbose=False)
    lines = ["# Bucket Brigade leagues: self-play, ad-hoc teams and the twelve scenarios", "",
             f"Command: `python benchmarks/bench_bucket_brigade_league.py --episodes {args.episodes}"
             + (" --train" if args.train else "") + (" --league-only" if args.league_only else "")
             + "".join(f" --{name} {getattr(args, name)}" for name in ("league", "generalist", "out")
                       if getattr(args, name) != defaults[name])
             + (f" --homogeneous {' '.join(args.homogeneous)}" if args.homogeneous else "")
             + (f" --off-policy {' '.join(args.off_policy)}" if args.off_policy else "") + "`  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, torch {torch.__version__} (1 thread)", ""]
    lines += league_section(Path(args.league), args.episodes, args.seed)
    if args.league_only:
        write_results(args.out, lines)
        return
    league_pop, _, _ = newest(Path(args.league))
    generalist, manifest, where = newest(Path(args.generalist))
    candidates = [(f"league-default:m{m.index}", m) for m in league_pop] + \
                 [(f"league-12:m{m.index}", m) for m in generalist]
    homogeneous: dict[str, list] = {}
    for item in args.homogeneous:
        scenario, run = item.split("=", 1)
        pop, _, _ = newest(Path(run))
        homogeneous.setdefault(scenario, []).extend((f"homogeneous:{scenario}:m{m.index}", m) for m in pop)
    lines += [f"Generalist league: {run_info(manifest, where)}.", ""]
    lines += scenario_section(candidates, args.episodes, args.seed, homogeneous)
    if args.off_policy:
        lines += off_policy_section(args.off_policy, args.episodes, args.seed)
    write_results(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
