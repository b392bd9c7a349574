"""Learning on ATC collision avoidance: env steps and wall time until a population solves each core scenario.

    python benchmarks/bench_atc_learning.py [--configs atc_ippo atc_matd3 ...] [--scenarios head_on converging ...]
        [--seeds 0 1 2] [--episodes 20] [--out benchmarks/results/atc_learning.md] [--root populations/bench_atc]
        [--set selection.strategy=multi_frequency ... --label mfpbt]

Trains a population from each shipped config (``configs/<name>.yaml``, budget and stopping rule as
written there) once per seed — and, with ``--scenarios``, once per scenario with the same config (the
one-recipe test: ``env.id`` is the only change) — then reports per run. ``--set KEY=VALUE`` (repeatable, the
CLI's override syntax) changes every config the same way to measure an alternative; its runs are named
``<config>+<label>`` (``--label``), so they never mix with the unchanged config's cells in ``--root``:

* **steps to solve**: env steps per member at the first generation whose best member's evaluation had no
  loss of separation (LoS), every aircraft at its waypoint and a return of at least 90 % of the scenario's
  optimum; **wall to solve**: training wall time (collection, learning, evaluation, evolution) up to that point;
* **final return**: team return (sum over agents) of the final best member, evaluated without exploration
  on ``--episodes`` fresh episodes, next to the scenario's approximate optimum (shared/specs/atc.md);
* **LoS risk**: fraction of those episodes whose minimum separation fell below 5 NM, and the fraction of
  aircraft that reached their waypoints. The core scenarios are deterministic (fixed start states, no
  env noise) and evaluation acts without noise, so all episodes of one member are identical.

Set ``torch`` to one thread (as the CLI does); results depend on the machine's load, so wall times are
indicative. Run folders go to ``--root`` (ignored by git). A ``## Notes`` section at the end of an existing
``--out`` file is kept when the table is rewritten.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import torch

from evo_marl.config import load_config
from evo_marl.envs import make_vec_env
from evo_marl.experiment import run_experiment
from evo_marl.envs.atc.metrics import SEPARATION_NM
from evo_marl.hpo import best_member
from evo_marl.training.evaluation import evaluate_population
from results_file import write_results

OPTIMUM = {"head_on": 24.0, "parallel": 32.0, "t_formation": 34.0, "canonical_crossing": 45.0, "converging": 44.0}
STRAIGHT = {"head_on": -33.55, "parallel": 32.28}  # straight flight (every action 0), spec section 9
CONFIGS = ["atc_ippo", "atc_matd3"]  # the one-recipe configs; any configs/<name>.yaml can be given
SOLVED_FRACTION = 0.9  # of the scenario's optimum return


@dataclass
class RunResult:
    config: str
    scenario: str
    algo: str
    seed: int
    population: int
    solve_steps: int | None
    solve_wall: float | None
    steps: int
    wall: float
    stop_reason: str
    final_return: float
    los_risk: float
    waypoint_fraction: float
    min_sep: float


def solved(metrics: dict, team_return: float, scenario: str) -> bool:
    """No loss of separation, every aircraft at its waypoint, return >= 90 % of the optimum (where known)."""
    optimum = OPTIMUM.get(scenario)
    good_return = optimum is None or team_return >= SOLVED_FRACTION * optimum
    return metrics.get("los_events", math.inf) == 0 and metrics.get("waypoint_fraction", 0.0) >= 1.0 and good_return


def first_solved_generation(run_dir: Path, scenario: str) -> tuple[int | None, float | None]:
    """(steps per member, training wall time) of the first solved generation (None, None if there is none)."""
    best: dict[int, dict] = {}
    with open(run_dir / "metrics.csv") as fh:
        for row in csv.DictReader(fh):
            g, fit = int(row["generation"]), float(row["fitness"])
            fit = fit if math.isfinite(fit) else -math.inf
            if g not in best or fit > best[g]["fit"]:
                best[g] = {"fit": fit, "steps": int(row["steps"]), "metrics": json.loads(row["eval_metrics"]),
                           "return": float(row.get("eval_return") or fit)}
    walls = {}
    with open(run_dir / "generations.csv") as fh:
        for row in csv.DictReader(fh):
            walls[int(row["generation"])] = float(row["train/wall_time"])
    for g in sorted(best):
        if solved(best[g]["metrics"], best[g]["return"], scenario):
            return best[g]["steps"], walls.get(g)
    return None, None


def _config(name: str, seed: int, scenario: str | None, overrides: Sequence[str] = ()):
    scenario_override = [f"env.id=atc/{scenario}"] if scenario else []
    return load_config(Path("configs") / f"{name}.yaml", [*overrides, f"seed={seed}", *scenario_override])


def run_name(name: str, label: str | None) -> str:
    """A config's name in cells and tables: ``atc_ippo``, or ``atc_ippo+<label>`` for an alternative (``--set``)."""
    return f"{name}+{label}" if label else name


def cell_file(name: str, seed: int, root: str, scenario: str | None, label: str | None = None) -> Path:
    """Where a finished run's result is kept (``scenario`` None: the config's own)."""
    scenario = scenario or _config(name, seed, None).env.id.split("/", 1)[1]
    return Path(root) / f"{run_name(name, label)}_{scenario}_s{seed}.json"


def run_one(name: str, seed: int, root: str, episodes: int, scenario: str | None = None,
            overrides: Sequence[str] = (), label: str | None = None) -> RunResult:
    """One training run (resumable benchmark: a finished cell is read back from ``<root>/<cell>.json``)."""
    config = _config(name, seed, scenario, overrides)
    scenario = config.env.id.split("/", 1)[1]
    cell = cell_file(name, seed, root, scenario, label)
    if cell.exists():
        return RunResult(**json.loads(cell.read_text()))
    config.name, config.output.root = f"{run_name(name, label)}_{scenario}_s{seed}", root
    config.output.plots, config.output.save_buffer = False, False
    start = time.perf_counter()
    pop, _, run_dir = run_experiment(config, overwrite=True, verbose=False)
    wall = time.perf_counter() - start
    solve_steps, solve_wall = first_solved_generation(run_dir, scenario)
    member = best_member(pop, config.training.fitness_window)
    reason = "early stop" if member.steps[-1] < config.training.max_steps else "budget"
    env = make_vec_env(config.env.id, num_envs=episodes, seed=999, **config.env.kwargs)
    ev = evaluate_population([member], env, config.training.eval_steps, seed=999)[0]
    seps = ev.episode_metrics.get("min_separation_nm", np.array([np.nan]))
    result = RunResult(run_name(name, label), scenario, config.algo, seed, config.population_size, solve_steps,
                       solve_wall, member.steps[-1], wall, reason, ev.fitness,
                       float(np.mean(seps < SEPARATION_NM)), ev.metrics.get("waypoint_fraction", float("nan")),
                       float(np.nanmin(seps)))
    cell.write_text(json.dumps(result.__dict__))
    return result


def table(results: list[RunResult]) -> list[str]:
    lines = ["| config | scenario | algo | seed | steps to solve (per member) | wall to solve (s) | steps run | "
             "wall (s) | stop | final return (optimum) | LoS risk | waypoints | min sep (NM) | solved at the end |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        solve = f"{r.solve_steps:,}" if r.solve_steps is not None else "not solved"
        solve_wall = f"{r.solve_wall:.0f}" if r.solve_wall is not None else "-"
        final = solved({"los_events": 0 if r.los_risk == 0 else 1, "waypoint_fraction": r.waypoint_fraction},
                       r.final_return, r.scenario)
        lines.append(f"| {r.config} | {r.scenario} | {r.algo} | {r.seed} | {solve} | {solve_wall} | {r.steps:,} | "
                     f"{r.wall:.0f} | "
                     f"{r.stop_reason} | {r.final_return:.2f} ({OPTIMUM.get(r.scenario, float('nan')):.0f}) | "
                     f"{r.los_risk:.2f} | {r.waypoint_fraction:.2f} | {r.min_sep:.1f} | {'yes' if final else 'no'} |")
    return lines


def summary(results: list[RunResult]) -> list[str]:
    """Seeds solved per config and scenario (the one-recipe targets count these)."""
    cells: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        cells.setdefault((r.config, r.scenario), []).append(r)
    lines = ["| config | scenario | seeds solved | steps to solve (per member) |", "|---|---|---|---|"]
    for (config, scenario), runs in cells.items():
        steps = ", ".join(f"{r.solve_steps:,}" if r.solve_steps is not None else "-" for r in runs)
        lines.append(f"| {config} | {scenario} | {sum(r.solve_steps is not None for r in runs)} of {len(runs)} | "
                     f"{steps} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=CONFIGS)
    parser.add_argument("--scenarios", nargs="*", default=None,
                        help="run each config on these ATC scenarios (default: the config's own env.id)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/atc_learning.md")
    parser.add_argument("--root", default="populations/bench_atc")
    parser.add_argument("--report-only", action="store_true",
                        help="write the table from the finished cells in --root; train nothing")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change every config the same way (repeatable; needs --label)")
    parser.add_argument("--label", default=None, help="name of the alternative that --set makes (runs: CONFIG+LABEL)")
    args = parser.parse_args()
    if bool(args.overrides) != bool(args.label):
        parser.error("--set and --label go together: --label names the alternative that --set makes")
    torch.set_num_threads(1)
    results = []
    for name in args.configs:
        if not (Path("configs") / f"{name}.yaml").exists():
            print(f"{name}: no configs/{name}.yaml, skipped", flush=True)
            continue
        for scenario, seed in [(sc, sd) for sc in (args.scenarios or [None]) for sd in args.seeds]:
            if args.report_only and not cell_file(name, seed, args.root, scenario, args.label).exists():
                continue
            r = run_one(name, seed, args.root, args.episodes, scenario, args.overrides, args.label)
            results.append(r)
            print(f"{r.config} {r.scenario} seed {seed}: solved at {r.solve_steps} steps ({r.solve_wall} s); final return "
                  f"{r.final_return:.2f}, LoS risk {r.los_risk:.2f}, waypoints {r.waypoint_fraction:.2f} "
                  f"({r.wall:.0f} s)", flush=True)
    command = "python benchmarks/bench_atc_learning.py --configs " + " ".join(args.configs) + \
        (" --scenarios " + " ".join(args.scenarios) if args.scenarios else "") + \
        " --seeds " + " ".join(map(str, args.seeds)) + f" --episodes {args.episodes}" + \
        "".join(f" --set {o}" for o in args.overrides) + (f" --label {args.label}" if args.label else "") + \
        (f" --root {args.root}" if args.root != parser.get_default("root") else "") + \
        (f" --out {args.out}" if args.out != parser.get_default("out") else "")
    lines = ["# ATC learning: env steps and wall time until a population solves each scenario", "",
             f"Measured {date.today()} on {platform.machine()} with 2 shared CPU cores (torch 1 thread) with",
             f"`{command}`.", "",
             "Solved = the best member's evaluation (no exploration noise) has no loss of separation, every "
             "aircraft at its waypoint and a return of at least 90 % of the scenario's optimum. Steps are env steps per member (each member acts in `num_envs` envs; "
             "the population shares one replay buffer for MATD3/MADDPG). Wall times include evaluation and "
             "evolution, not start-up. Final return: team return of the final best member over "
             f"{args.episodes} evaluation episodes (optimum in brackets, shared/specs/atc.md). The core "
             "scenarios are deterministic, so LoS risk is 0 or 1 per run.", ""]
    lines += summary(results) + [""] + table(results)
    write_results(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
