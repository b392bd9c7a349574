"""One ATC controller for any traffic: train on random traffic, evaluate zero-shot everywhere.

    python benchmarks/bench_atc_generalisation.py [--configs atc_generalist_ippo ...] [--seeds 0 1 2]
        [--set training.max_steps=500000 ...] [--reuse] [--episodes 1000] [--aircraft 2 4 6 8]
        [--detection-episodes 100] [--root populations/bench_generalist] [--out benchmarks/results/atc_generalisation.md]

For every config (``configs/<name>.yaml``) and seed, a population is trained as the config says (``--reuse``
keeps a finished run folder of the same name instead of training again), and what the config deploys
(``output.deploy``; results files written before 2026-12-07 without ``--choose-by`` evaluated the best member:
``--choose-by fitness`` repeats them) or ``--choose-by`` names is evaluated: its best member (highest
fitness on the training distribution in the last generation; with ``--choose-by best`` the best by that fitness
over the whole run, its ``best/`` checkpoint; with ``--choose-by los_risk`` the member of the
last generation with the lowest LoS risk on ``--choose-episodes`` validation episodes of 3-5 aircraft, reset
seed 30_000, never used for the figures; with ``--choose-by clean`` the one with the most clean validation
episodes: no LoS and every waypoint; ``--choose-aircraft`` sets the validation traffic and
``--choose-generations N`` draws the candidates from the run's last N kept generations; with ``--choose-by
ensemble`` every member of the last generation acts together, :class:`~evo_marl.algorithms.ensemble.EnsemblePolicy`:
the mean of their actions) is evaluated **zero-shot**, acting by role
(:class:`~evo_marl.algorithms.roles.RolePolicy`), without exploration noise:

* on the 14 named scenarios (deterministic: one episode each): return next to the spec's optimum or the
  straight-flight bound, minimum separation, waypoint fraction; **clean** = no loss of separation (LoS)
  and at least 95 % of the waypoints;
* on ``--episodes`` held-out ``atc/random`` episodes (default generator, reset seed 10_000 + count, never
  used in training) at each aircraft count: LoS risk, LoS entries per flight hour, LoS depth (the median
  minimum separation of the episodes that lost it: grazes of 5 NM or near-collisions), waypoint fraction,
  return / straight-flight bound;
* conflict detection (spec section 10) pooled over the named scenarios and ``--detection-episodes``
  random episodes per count: precision and recall of the controller's manoeuvres against true conflicts.

The same named scenarios and held-out episodes are also flown by two references that read the whole state
(which a learned controller does not see): the scripted
:class:`~evo_marl.envs.atc.resolver.HeadingResolver` (direct to the waypoint, velocity-obstacle heading
resolution, each aircraft for itself) and the centralised :class:`~evo_marl.envs.atc.planner.RolloutPlanner`
(scores sampled joint plans of all aircraft with the simulator's kinematics: an estimate of how few losses of
separation the traffic allows). ``--references resolver`` keeps one, ``--no-reference`` skips both.

Targets (issue 11): held-out LoS risk <= 5 % with waypoint fraction >= 95 % at 2-4 aircraft; clean on
at least 12 of the 14 named scenarios, converging included; the summary counts the seeds that meet each
(:func:`held_out_target_met`, :func:`named_target_met`). Results depend on the machine's load; wall
times are indicative. A ``## Notes`` section at the end of ``--out`` is kept when the file is rewritten.

Each evaluation is also kept in its run folder (``generalisation_evaluations.json``, keyed by the checkpoint
evaluated and the evaluation settings), so ``--reuse`` reports seeds evaluated by earlier invocations without
flying them again (``--no-cache``: evaluate anyway); the report names the code version of every evaluation.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import json
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from evo_marl.algorithms.ensemble import EnsemblePolicy, ranked_members
from evo_marl.algorithms.roles import RolePolicy
from evo_marl.config import load_config
from evo_marl.cross_evaluation import choose_member, cross_evaluate, load_run
from evo_marl.envs.atc import parallel_env
from evo_marl.envs.atc.analysis import conflict_detection
from evo_marl.envs.atc.config import RewardConfig
from evo_marl.envs.atc.evaluation import reference_returns, transfer_kwargs
from evo_marl.envs.atc.metrics import evaluation_summary
from evo_marl.envs.atc.planner import RolloutPlanner
from evo_marl.envs.atc.resolver import HeadingResolver
from evo_marl.envs.atc.scenarios import shipped_scenarios
from evo_marl.envs.atc.tracks import record_episode
from evo_marl.envs.episodes import acting_greedily, run_episodes
from evo_marl.envs.registry import make_vec_env
from evo_marl.experiment import run_experiment
from evo_marl.run_folder import latest_generation, read_manifest, resolve_checkpoint
from evo_marl.training.checkpoint import load_population
from results_file import code_version, write_results

HELD_OUT_SEED = 10_000
VALIDATION_SEED = 30_000
#: --choose-by options besides fitness: the validation metric and how the report names the member it picks
CHOICES = {"los_risk": "Safest (lowest LoS risk)", "clean": "Cleanest (most episodes without LoS and with every waypoint)"}


def _defaults(controller: type) -> dict[str, Any]:
    """A reference controller's default settings, with its protected radius in NM (``margin`` applied)."""
    d = {k: p.default for k, p in inspect.signature(controller).parameters.items()}
    return {**d, "radius_nm": RewardConfig().separation_nm * (1 + d["margin"])}


def _resolver_text() -> str:
    d = _defaults(HeadingResolver)
    return (f"flies direct to the waypoint and turns to the heading nearest the direct one whose track keeps every "
            f"intruder {d['radius_nm']:g} NM away for {d['lookahead_s']:g} s "
            "(intruders assumed to hold their velocity; each aircraft for itself)")


def _planner_text() -> str:
    d = _defaults(RolloutPlanner)
    return (f"scores {d['candidates']} sampled joint plans of all aircraft (a heading offset from the direct one held "
            f"for up to {d['max_hold_steps']} steps, then direct) {d['horizon_steps']} steps ahead with the "
            f"simulator's kinematics against {d['radius_nm']:g} NM, keeps its best "
            "plan from step to step and flies its first step (centralised: it coordinates every aircraft)")


@dataclass(frozen=True)
class Reference:
    """A controller that reads the whole simulator state, flown on the benchmark's episodes for comparison."""

    label: str
    source: str
    make: Callable[[Any], Callable]  # vector env -> policy
    text: Callable[[], str]


REFERENCES = {
    "resolver": Reference("reference: scripted HeadingResolver", "evo_marl/envs/atc/resolver.py", HeadingResolver,
                          _resolver_text),
    "planner": Reference("reference: RolloutPlanner", "evo_marl/envs/atc/planner.py",
                         lambda env: RolloutPlanner(env, seed=0), _planner_text),
}
REFERENCE_LABELS = {r.label for r in REFERENCES.values()}
CLEAN_WAYPOINTS = 0.95


@dataclass
class SeedResult:
    config: str
    seed: int
    run_dir: Path
    steps: int
    wall: float
    member: str  # the member evaluated: its index, and its generation where not the newest
    code: str = ""  # the code version that evaluated it (results_file.code_version)
    named: dict[str, dict] = field(default_factory=dict)  # scenario -> row
    random: dict[int, dict] = field(default_factory=dict)  # aircraft -> row
    detection: dict[str, float] = field(default_factory=dict)

    @property
    def clean_named(self) -> list[str]:
        return [s for s, r in self.named.items() if r["clean"]]


#: issue 11's targets: held-out traffic of these counts within these bounds; clean on this many named scenarios
TARGET_AIRCRAFT = (2, 4)
TARGET_LOS_RISK = 0.05
TARGET_WAYPOINTS = 0.95
TARGET_NAMED_CLEAN = 12


def held_out_target_met(result: SeedResult) -> bool | None:
    """LoS risk <= 5 % with >= 95 % of the waypoints at every evaluated count of 2-4 aircraft (None: none evaluated)."""
    rows = [result.random[n] for n in TARGET_AIRCRAFT if n in result.random]
    if not rows:
        return None
    return all(r["los_risk"] <= TARGET_LOS_RISK and r["waypoints"] >= TARGET_WAYPOINTS for r in rows)


def named_target_met(result: SeedResult) -> bool:
    """Clean on at least 12 of the named scenarios, converging among them."""
    return len(result.clean_named) >= TARGET_NAMED_CLEAN and "converging" in result.clean_named


def _targets_cell(results: list[SeedResult]) -> str:
    """How many seeds meet the held-out target, the named one and both, e.g. ``3 / 2 / 1 of 6``."""
    held_out = [held_out_target_met(r) for r in results]
    named = [named_target_met(r) for r in results]
    counts = [sum(bool(h) for h in held_out), sum(named), sum(bool(h) and n for h, n in zip(held_out, named))]
    return " / ".join(map(str, counts)) + f" of {len(results)}"


def _finished(run_dir: Path, max_steps: int) -> bool:
    """The run folder's newest generation ended its run (a stopping rule, or the budget spent)."""
    gen = latest_generation(run_dir)
    if gen is None:
        return False
    manifest = read_manifest(gen)
    steps = [m["steps"][-1] for m in manifest.get("members", []) if m.get("steps")]
    return manifest.get("stop_reason") is not None or (bool(steps) and max(steps) >= max_steps)


def train(name: str, seed: int, overrides: list[str], root: str, reuse: bool) -> tuple[Path, float]:
    config = load_config(Path("configs") / f"{name}.yaml", [f"seed={seed}", *overrides])
    config.name, config.output.root = f"{name}_s{seed}", root
    config.output.save_buffer = False
    if reuse and _finished(config.run_dir, config.training.max_steps):
        print(f"{config.run_dir}: finished run reused", flush=True)
    else:  # with --reuse an interrupted run folder is resumed (exactly, from its newest checkpoint)
        resume = reuse and latest_generation(config.run_dir) is not None
        start = time.perf_counter()
        run_experiment(config, resume=resume, overwrite=not resume, verbose=False)
        print(f"{config.run_dir}: {'resumed' if resume else 'trained'} in {time.perf_counter() - start:.0f} s",
              flush=True)
    with open(config.run_dir / "generations.csv") as fh:
        rows = list(csv.DictReader(fh))
    return config.run_dir, float(rows[-1]["train/wall_time"]) if rows else math.nan


def detection(members: list, scenarios: list[str], counts: list[int], episodes: int,
              kwargs: dict) -> dict[str, float]:
    """Conflict-detection confusion pooled over the named scenarios and random episodes per count (``members``:
    one member, or several acting as an ensemble)."""
    env = parallel_env(scenarios[0], **kwargs)
    policy = RolePolicy(members[0], env) if len(members) == 1 else EnsemblePolicy(members, env)
    tp = fp = fn = tn = 0
    envs = [(parallel_env(s, **kwargs), 0) for s in scenarios]
    envs += [(parallel_env("random", num_aircraft=n, **kwargs), HELD_OUT_SEED + 100 * n + i)
             for n in counts for i in range(episodes)]
    with acting_greedily(members):
        for env, seed in envs:
            r = conflict_detection(record_episode(env, policy, seed=seed))
            tp, fp, fn, tn = tp + r.tp, fp + r.fp, fn + r.fn, tn + r.tn
    return {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
            "ghost_rate": fp / (fp + tn) if fp + tn else 0.0, "steps": tp + fp + fn + tn}


def evaluate(name: str, seed: int, run_dir: Path, wall: float, args) -> SeedResult:
    population, config, member = load_run(run_dir)
    label = str(member.index)
    source, ensemble = member, False  # what cross_evaluate scores: one member, or the run's members together
    if args.choose_by == "ensemble":
        source, ensemble, label = run_dir, True, f"ensemble of all {len(population)}"
    elif args.choose_by == "best":
        best = resolve_checkpoint(run_dir, best=True)
        [member] = load_population(best)
        label = f"{member.index} of generation {read_manifest(best)['best']['generation']}"
    elif args.choose_by != "fitness":
        member, scores = choose_member(run_dir, ["atc/random"], args.choose_by,
                                       lower_is_better=args.choose_by == "los_risk", episodes=args.choose_episodes,
                                       seed=VALIDATION_SEED, env_kwargs={"num_aircraft": args.choose_aircraft},
                                       generations=args.choose_generations)
        label = str(member.index)
        if args.choose_generations > 1:
            best = max(scores.values()) if args.choose_by != "los_risk" else min(scores.values())
            generation = next(g for g, i in scores if i == member.index and scores[g, i] == best)
            label += f" of generation {generation}"
    kwargs = transfer_kwargs(config.env.kwargs)
    result = SeedResult(name, seed, run_dir, int(member.steps[-1]), wall, label)
    named = shipped_scenarios()
    for r in cross_evaluate(source, [f"atc/{s}" for s in named], episodes=1, seed=0, env_kwargs=kwargs,
                            ensemble=ensemble):
        result.named[r.env_id.split("/")[1]] = _named_row(r.metrics, r.mean_return, r.optimum, r.bound)
    for n in args.aircraft:
        r = cross_evaluate(source, ["atc/random"], episodes=args.episodes, seed=HELD_OUT_SEED + n,
                           env_kwargs={**kwargs, "num_aircraft": n}, ensemble=ensemble)[0]
        result.random[n] = _random_row(r.metrics, r.mean_return, r.bound)
    if args.detection_episodes > 0:
        members = ranked_members(population) if ensemble else [member]
        result.detection = detection(members, named, args.aircraft, args.detection_episodes, kwargs)
    return result


EVALUATION_CACHE = "generalisation_evaluations.json"


def _evaluation_key(run_dir: Path, args) -> dict:
    """What an evaluation depends on: the newest checkpoint's manifest and the evaluation settings."""
    manifest = resolve_checkpoint(run_dir) / "manifest.json"
    return {"checkpoint": hashlib.sha256(manifest.read_bytes()).hexdigest()[:16], "choose_by": args.choose_by,
            "choose_episodes": args.choose_episodes, "choose_aircraft": list(args.choose_aircraft),
            "choose_generations": args.choose_generations, "episodes": args.episodes,
            "aircraft": list(args.aircraft), "detection_episodes": args.detection_episodes}


def cached_evaluation(name: str, seed: int, run_dir: Path, wall: float, args) -> SeedResult:
    """:func:`evaluate`, or the same evaluation kept in the run folder by an earlier invocation."""
    path, key = run_dir / EVALUATION_CACHE, _evaluation_key(run_dir, args)
    entries = json.loads(path.read_text()) if path.exists() else []
    for entry in [] if args.no_cache else entries:
        if entry["key"] == key:
            print(f"{run_dir}: evaluation kept from code {entry['code']}", flush=True)
            return SeedResult(name, seed, run_dir, entry["steps"], wall, entry["member"], entry["code"],
                              entry["named"], {int(n): row for n, row in entry["random"].items()}, entry["detection"])
    result = evaluate(name, seed, run_dir, wall, args)
    result.code = code_version()
    entries = [e for e in entries if e["key"] != key] + [
        {"key": key, "code": result.code, "steps": result.steps, "member": result.member, "named": result.named,
         "random": result.random, "detection": result.detection}]
    path.write_text(json.dumps(entries, indent=1))
    return result


def reference_result(reference: Reference, args) -> SeedResult:
    """A reference controller on the named scenarios and the held-out episodes of :func:`evaluate`."""
    result = SeedResult(reference.label, 0, Path("-"), 0, math.nan, "-")

    def fly(env_id: str, episodes: int, seed: int, **kwargs) -> tuple[dict, float]:
        """Metrics as :class:`~evo_marl.cross_evaluation.EnvEvaluation` has them, and the mean return."""
        env = make_vec_env(env_id, num_envs=episodes, seed=seed, **kwargs)
        res = run_episodes(reference.make(env), env, seed=seed)
        return {**res.mean_metrics(), **evaluation_summary(res.metrics)}, float(np.mean(res.returns))

    for s in shipped_scenarios():
        metrics, ret = fly(f"atc/{s}", 1, 0)
        result.named[s] = _named_row(metrics, ret, *reference_returns(s, 1, 0, {}))
    for n in args.aircraft:
        seed = HELD_OUT_SEED + n
        metrics, ret = fly("atc/random", args.episodes, seed, num_aircraft=n)
        result.random[n] = _random_row(metrics, ret, reference_returns("random", args.episodes, seed, {"num_aircraft": n})[1])
    return result


def _named_row(m: dict, ret: float, optimum: float | None, bound: float | None) -> dict:
    """A named scenario's row of :attr:`SeedResult.named` from its evaluation metrics."""
    return {"return": ret, "optimum": optimum, "bound": bound, "min_sep": m["min_separation_nm"],
            "waypoints": m["waypoint_fraction"], "los": m["los_risk"] > 0,
            "clean": m["los_risk"] == 0 and m["waypoint_fraction"] >= CLEAN_WAYPOINTS}


def _random_row(m: dict, ret: float, bound: float | None) -> dict:
    """An aircraft count's row of :attr:`SeedResult.random` from its evaluation metrics."""
    return {"los_risk": m["los_risk"], "los_per_h": m["los_per_flight_hour"], "waypoints": m["waypoint_fraction"],
            "clean": m["clean"], "return": ret, "bound": bound, "los_depth": m["los_median_separation_nm"]}


#: the columns of a held-out row (:func:`_random_cells`), after its leading ones
RANDOM_COLUMNS = "| LoS risk | LoS / flight h | LoS depth (NM) | waypoints | clean | return / bound |"
RANDOM_ALIGN = "---:|---:|---:|---:|---:|---|"


def _random_cells(row: dict) -> str:
    """A held-out row's cells under :data:`RANDOM_COLUMNS` (LoS depth "-" where no episode lost separation)."""
    depth = f"{row['los_depth']:.2f}" if math.isfinite(row["los_depth"]) else "-"
    return (f" {row['los_risk']:.1%} | {row['los_per_h']:.2f} | {depth} | {row['waypoints']:.1%} | "
            f"{row['clean']:.1%} | {row['return']:.1f} / {row['bound']:.1f} |")


def _detection_cell(results: list[SeedResult]) -> str:
    """Mean conflict-detection precision / recall over the seeds, ``-`` where detection was not measured."""
    precision, recall = (_mean(r.detection.get(k) for r in results) for k in ("precision", "recall"))
    return "-" if math.isnan(precision) else f"{precision:.2f} / {recall:.2f}"


def _yes_no(value: bool | None) -> str:
    return "not evaluated" if value is None else "yes" if value else "no"


def _mean(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


def report(results: list[SeedResult], args, command: str) -> list[str]:
    lines = ["# ATC generalisation: one controller, zero-shot on every scenario and on held-out random traffic", "",
             f"Measured {date.today().isoformat()} on {platform.processor() or platform.machine()} (2 CPU cores "
             "shared with other work, torch 1 thread, training under `nice`) with", "", f"    {command}", "",
             ("Best member of the final generation" if args.choose_by == "fitness" else
              "Every member of the final generation acting together (mean of their actions)"
              if args.choose_by == "ensemble" else
              "Best member of the whole run by training fitness (its `best/` checkpoint)" if args.choose_by == "best" else
              f"{CHOICES[args.choose_by]} member of the last {args.choose_generations} generation(s) on "
              f"{args.choose_episodes} validation episodes of {args.choose_aircraft[0]}-{args.choose_aircraft[1]} "
              f"aircraft (reset seed {VALIDATION_SEED})") + ", acting by role without exploration. Named scenarios: one "
             "deterministic episode each; *clean* = no loss of separation and >= 95 % of waypoints. Held-out random "
             f"traffic: {args.episodes} `atc/random` episodes per aircraft count (default generator, reset seed "
             f"{HELD_OUT_SEED} + count). LoS/h: LoS entries per aircraft flight hour. Return vs bound: mean team "
             "return next to the straight-flight return without LoS terms (an upper bound up to the team term).", ""]
    configs = list(dict.fromkeys(r.config for r in results if r.config not in REFERENCE_LABELS))
    references = [(ref, r) for ref in REFERENCES.values() for r in results if r.config == ref.label]
    lines += ["## Summary", "",
              "| config | seeds | steps per member | train wall (s) | named clean (of 14) | converging clean | "
              + " | ".join(f"{n} ac: LoS risk / waypoints" for n in args.aircraft) + " | detection P / R"
              + " | seeds meeting the held-out / named / both targets |",
              "|---|---:|---:|---:|---|---|" + "---|" * len(args.aircraft) + "---|---|"]
    for c in configs:
        rs = [r for r in results if r.config == c]
        cells = [f"{_mean(r.random[n]['los_risk'] for r in rs):.1%} / {_mean(r.random[n]['waypoints'] for r in rs):.1%}"
                 for n in args.aircraft]
        lines.append(f"| {c} | {len(rs)} | {_mean(r.steps for r in rs):,.0f} | {_mean(r.wall for r in rs):.0f} | "
                     f"{', '.join(str(len(r.clean_named)) for r in rs)} | "
                     f"{', '.join('yes' if 'converging' in r.clean_named else 'no' for r in rs)} | "
                     + " | ".join(cells) + f" | {_detection_cell(rs)} | {_targets_cell(rs)} |")
    for ref, r in references:
        cells = [f"{r.random[n]['los_risk']:.1%} / {r.random[n]['waypoints']:.1%}" for n in args.aircraft]
        lines.append(f"| {ref.label} (reads the whole state; not learned) | - | - | - | {len(r.clean_named)} | "
                     f"{'yes' if 'converging' in r.clean_named else 'no'} | " + " | ".join(cells) + " | - | - |")
    lines += ["", "Targets: held-out LoS risk <= 5 % with waypoints >= 95 % at 2-4 aircraft; clean on >= 12 of 14 "
              "named scenarios, converging included.", ""]
    for ref, r in references:
        lines += [f"The {ref.label} (`{ref.source}`) {ref.text()}; it reads every aircraft's position, heading and "
                  "speed, which a learned controller does not see. Held-out random traffic:", "",
                  "| aircraft " + RANDOM_COLUMNS, "|---:|" + RANDOM_ALIGN]
        lines += [f"| {n} |" + _random_cells(v) for n, v in r.random.items()]
        lines += ["", "Named scenarios not clean: " + (", ".join(
            f"{s} ({v['min_sep']:.1f} NM, {v['waypoints']:.0%})" for s, v in r.named.items() if not v["clean"])
            or "none"), ""]
    for c in configs:
        rs = [r for r in results if r.config == c]
        lines += [f"## {c}", "", "Held-out random traffic (per seed):", "",
                  "| seed | aircraft " + RANDOM_COLUMNS, "|---:|---:|" + RANDOM_ALIGN]
        lines += [f"| {r.seed} | {n} |" + _random_cells(v) for r in rs for n, v in r.random.items()]
        lines += ["", "Named scenarios, zero-shot (return / optimum or bound, min separation NM, waypoints; "
                  "**bold** = clean):", "", "| scenario | " + " | ".join(f"seed {r.seed}" for r in rs) + " |",
                  "|---|" + "---|" * len(rs)]
        for s in shipped_scenarios():
            cells = []
            for r in rs:
                v = r.named[s]
                ref = v["optimum"] if v["optimum"] is not None else v["bound"]
                cell = f"{v['return']:.1f} / {ref:.1f}, {v['min_sep']:.1f}, {v['waypoints']:.0%}"
                cells.append(f"**{cell}**" if v["clean"] else cell)
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        if any(r.detection for r in rs):
            lines += ["", "Conflict detection (named scenarios + random episodes, pooled): " + "; ".join(
                f"seed {r.seed}: precision {r.detection.get('precision', math.nan):.2f}, recall "
                f"{r.detection.get('recall', math.nan):.2f}, ghost rate {r.detection.get('ghost_rate', math.nan):.2f}"
                for r in rs)]
        lines += ["", "Targets per seed (held-out: 2-4 aircraft; named: >= 12 of 14 clean with converging): "
                  + "; ".join(f"seed {r.seed}: held-out {_yes_no(held_out_target_met(r))}, "
                              f"named {_yes_no(named_target_met(r))}" for r in rs)]
        lines += ["", "Runs: " + "; ".join(f"seed {r.seed}: {r.steps:,} steps per member, {r.wall:.0f} s, member "
                                 f"{r.member} (`{r.run_dir}`, evaluated at code {r.code or 'unknown'})"
                                 for r in rs), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["atc_generalist_ippo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--reuse", action="store_true", help="keep finished run folders instead of training again "
                        "(and resume interrupted ones)")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--aircraft", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--detection-episodes", type=int, default=100)
    parser.add_argument("--references", nargs="*", choices=sorted(REFERENCES), default=list(REFERENCES),
                        help="reference controllers flown on the same episodes (default: all)")
    parser.add_argument("--no-reference", action="store_true", help="skip every reference controller")
    parser.add_argument("--choose-by", choices=["fitness", "best", "ensemble", *CHOICES], default=None,
                        help="which member is evaluated (default: as the configs deploy, output.deploy: ensemble or "
                        "fitness; fitness: the best of the last generation; best: the best by "
                        "fitness of the whole run, its best/ checkpoint; ensemble: every member of the last "
                        "generation acting together; los_risk: safest on validation episodes; "
                        "clean: most validation episodes without LoS and with every waypoint)")
    parser.add_argument("--choose-episodes", type=int, default=900, help="validation episodes for --choose-by los_risk / clean")
    parser.add_argument("--choose-aircraft", type=int, nargs=2, default=[3, 5], metavar=("MIN", "MAX"),
                        help="aircraft per validation episode for --choose-by los_risk / clean (default 3 5)")
    parser.add_argument("--choose-generations", type=int, default=1,
                        help="--choose-by los_risk / clean: candidates from the run's last N kept generations, not only the newest")
    parser.add_argument("--no-cache", action="store_true",
                        help="evaluate again even where a run folder keeps the same evaluation")
    parser.add_argument("--root", default="populations/bench_generalist")
    parser.add_argument("--out", default="benchmarks/results/atc_generalisation.md")
    args = parser.parse_args(argv)
    if args.choose_by is None:  # as the configs deploy their runs
        deploys = {load_config(Path("configs") / f"{name}.yaml", args.set).output.deploy for name in args.configs}
        if len(deploys) > 1:
            parser.error(f"the configs deploy differently (output.deploy: {sorted(deploys)}): choose with --choose-by")
        args.choose_by = "ensemble" if deploys == {"ensemble"} else "fitness"
    torch.set_num_threads(1)
    results = []
    for name in args.configs:
        for seed in args.seeds:
            run_dir, wall = train(name, seed, args.set, args.root, args.reuse)
            results.append(cached_evaluation(name, seed, run_dir, wall, args))
            r = results[-1]
            print(f"{name} seed {seed}: named clean {len(r.clean_named)}/14 "
                  + ", ".join(f"{n} ac LoS {v['los_risk']:.1%} wp {v['waypoints']:.1%}" for n, v in r.random.items()),
                  flush=True)
    for name in [] if args.no_reference else args.references:
        results.append(reference_result(REFERENCES[name], args))
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    command = f"python benchmarks/bench_atc_generalisation.py {argv_text}".strip()
    lines = report(results, args, command)
    out = write_results(args.out, lines)
    print("\n".join(lines))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
