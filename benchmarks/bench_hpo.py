"""HPO efficacy: evolution vs random search, Optuna TPE and the default config at equal env-step budgets.

    nice -n 10 python benchmarks/bench_hpo.py [--tasks atc_head_on ...] [--methods tournament mfpbt ...]
        [--seeds 0 1 2] [--population 8] [--root populations/bench_hpo]
        [--out benchmarks/results/hpo_efficacy.md] [--range NAME=MIN:MAX ...] [--set KEY=VALUE ...]
        [--report-only] [--references]

A **cell** is one (task, method, seed). Every method gets the same total budget of env steps
(``population x training.max_steps`` of the task's config; evaluation episodes are not counted):

* ``tournament`` / ``mfpbt`` / ``ttest``: evolution of a population whose hyperparameters are drawn from the search
  ranges, with tournament selection, multi-frequency PBT (``MultiFrequencyPBT``) or PBT's t-test selection
  (``TTestSelection``), and mutation.
* ``random``: the same population with hyperparameters drawn from the same ranges, no selection, no mutation.
* ``optuna``: Optuna's TPE sampler (``pip install 'evo-marl[hpo]'``) proposes the hyperparameters of
  sequential single-member runs (same ranges, log scale where the range says so) until the budget is spent;
  each trial may use up to ``training.max_steps`` and the median pruner stops trials that fall behind.
* ``default``: the population at the config's own hyperparameters, no selection, no mutation.
* ``tuned``: the population at the config's own hyperparameters, then tournament selection and mutation
  (the shipped recipe's hyperparameters; not one of the issue's methods, reported beside them).

Each cell records the best-so-far score against total env steps and stops at the first *solve* (see
``hpo_tasks.py`` for each task's test; stochastic tasks confirm a candidate on fresh episodes). Its result is
written to ``<root>/cells/<task>__<method>__s<seed>.json``; finished cells are skipped, so an interrupted
benchmark resumes where it stopped, and several invocations may share a root at the same time (a cell that a
live process has claimed is skipped). The report (``--out``) and the plot next to it are rebuilt from every
cell file found. ``--range action_std_init=0.25:1.0`` changes one range of every task's search space (the
config's ``hp_ranges``, else the algorithm's default space) and ``--set net_config.min_mlp_nodes=64`` one field
of every task's config; give such a run its own ``--root``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evo_marl.algorithms.registry import get_algorithm
from evo_marl.config import ExperimentConfig, StoppingConfig, load_config, read_config_file
from evo_marl.envs import make_vec_env
from evo_marl.experiment import run_experiment
from evo_marl.hpo import HyperparameterConfig
from evo_marl.training.evaluation import evaluate_population
from evo_marl.stopping import StoppingCriterion
from hpo_report import DEFAULT_OUT, DEFAULT_ROOT, write_report
from hpo_tasks import TASKS, Task, mpe_references
from results_file import code_version

logger = logging.getLogger("bench_hpo")
MAX_STEPS: int | None = None  # set by --max-steps
RANGES: dict[str, tuple[float, float]] = {}  # set by --range
SETS: list[str] = []  # set by --set: config overrides applied to every cell
METHODS = ("tournament", "mfpbt", "ttest", "random", "optuna", "default", "tuned")
CONFIRM_SEED, FINAL_SEED = 7_000_003, 9_000_001  # fresh episodes: never the seeds of training or evaluation
# How each population method is expressed in the experiment config (``--set`` overrides).
METHOD_OVERRIDES: dict[str, list[str]] = {
    "tournament": ["hp_init=sampled", "selection.strategy=tournament"],
    "mfpbt": ["hp_init=sampled", "selection.strategy=multi_frequency"],
    "ttest": ["hp_init=sampled", "selection.strategy=ttest"],
    "random": ["hp_init=sampled", "selection.strategy=none"],
    "default": ["hp_init=fixed", "selection.strategy=none"],
    "optuna": ["hp_init=fixed", "selection.strategy=none"],  # each trial: one member at the suggested values
    # the config's hyperparameters to start, then tournament selection and mutation
    "tuned": ["hp_init=fixed", "selection.strategy=tournament"],
}


class SolveTracker(StoppingCriterion):
    """Records the best-so-far score per generation and stops the run at the first (confirmed) solve.

    ``step_offset`` / ``wall_offset`` place the run on the cell's axes (Optuna trials follow each other).
    With an Optuna ``trial``, each generation's best score is reported to it and a pruned trial stops.
    """

    name = "bench_hpo"

    def __init__(self, task: Task, config: ExperimentConfig, step_offset: int = 0, wall_offset: float = 0.0,
                 best_so_far: float = -math.inf, trial: Any = None):
        self.task, self.config, self.trial = task, config, trial
        self.step_offset, self.wall_offset, self.extra_wall = step_offset, wall_offset, 0.0
        self.best_so_far, self.run_best = best_so_far, -math.inf
        self.curve: list[tuple[int, float, float]] = []
        self.solved: tuple[int, float] | None = None
        self.pruned = False
        self.position: int | None = None  # the member to report: the solver, else the last generation's best
        self.steps = 0

    def _confirm(self, member) -> bool:
        if not self.task.confirm_episodes:
            return True
        started = time.perf_counter()
        env = make_vec_env(self.config.env.id, num_envs=self.task.confirm_episodes, seed=CONFIRM_SEED,
                           **self.config.env.kwargs)
        ev = evaluate_population([member], env, self.config.training.eval_steps, seed=CONFIRM_SEED)[0]
        member.fitness.pop()  # the confirmation is not part of the member's fitness history
        self.extra_wall += time.perf_counter() - started
        logger.info("confirmation of member %s: score %.2f", member.index, self.task.score(ev.fitness, ev.metrics))
        return self.task.passes(ev.fitness, ev.metrics)

    def update(self, record) -> bool:
        scores = [self.task.score(m.eval_return, m.eval_metrics) for m in record.members]  # this generation's
        best = int(np.argmax(scores))
        self.position, self.steps = best, record.total_steps
        self.run_best = max(self.run_best, scores[best])
        self.best_so_far = max(self.best_so_far, scores[best])
        steps = self.step_offset + record.total_steps
        passing = [k for k, m in enumerate(record.members)
                   if not m.failed and self.task.passes(m.eval_return, m.eval_metrics)]
        if passing:
            k = max(passing, key=lambda k: scores[k])
            if self._confirm(self.population[k]):
                self.position, self.solved = k, (steps, self.wall_offset + record.wall_time + self.extra_wall)
        self.curve.append((steps, self.wall_offset + record.wall_time + self.extra_wall, self.best_so_far))
        if self.solved:
            return True
        if self.trial is not None:
            self.trial.report(scores[best], record.total_steps)
            self.pruned = self.trial.should_prune()
        return self.pruned


def search_space(config: ExperimentConfig) -> HyperparameterConfig:
    """The ranges every method searches: the config's ``hp_ranges`` or the algorithm's default ranges."""
    return config.search_space() or get_algorithm(config.algo).default_hp_config()


def cell_config(task: Task, method: str, seed: int, root: Path, population: int | None,
                name: str | None = None, extra: list[str] | None = None,
                hyperparameters: dict[str, Any] | None = None) -> ExperimentConfig:
    """The experiment of one cell (or Optuna trial): the task's config with the method's settings."""
    data = read_config_file(Path("configs") / f"{task.config}.yaml")
    data["name"] = name or f"{task.name}__{method}__s{seed}"
    data["init_hp"] = {**(data.get("init_hp") or {}), **(hyperparameters or {})}  # later keys win
    if RANGES:
        data["hp_ranges"] = changed_space(data)
    overrides = [*task.overrides, *SETS, *(METHOD_OVERRIDES.get(method, [])), f"seed={seed}", *(extra or [])]
    if MAX_STEPS is not None:  # --max-steps: the same smaller budget for every task and method
        overrides.append(f"training.max_steps={MAX_STEPS}")
    if population is not None:
        overrides.append(f"population_size={population}")
    config = load_config(data, overrides)
    config.output.root = str(root / "runs")
    config.output.checkpoint = config.output.save_buffer = config.output.plots = False
    config.training.stopping = StoppingConfig()  # the benchmark's solve test is the only stopping rule
    return config


def changed_space(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config's search space (its ``hp_ranges``, else its algorithm's default) with ``--range`` applied."""
    space = data.get("hp_ranges") or get_algorithm(data["algo"]).default_hp_config().to_dict()
    for name, (low, high) in RANGES.items():
        if name not in space:
            raise SystemExit(f"--range {name}: not a hyperparameter of the {data['algo']} search space "
                             f"({', '.join(sorted(space))})")
        space[name] = {**space[name], "min": low, "max": high}
    return space


def parse_range(text: str) -> tuple[str, tuple[float, float]]:
    """``NAME=MIN:MAX`` -> ``(NAME, (MIN, MAX))``."""
    try:
        name, bounds = text.split("=", 1)
        low, high = (float(v) for v in bounds.split(":", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=MIN:MAX, e.g. action_std_init=0.25:1.0") from None
    if not low < high:
        raise argparse.ArgumentTypeError(f"{text!r}: MIN must be below MAX")
    return name, (low, high)


def final_evaluation(task: Task, config: ExperimentConfig, member) -> dict[str, Any]:
    env = make_vec_env(config.env.id, num_envs=task.final_episodes, seed=FINAL_SEED, **config.env.kwargs)
    ev = evaluate_population([member], env, config.training.eval_steps, seed=FINAL_SEED)[0]
    per_episode = ev.returns if task.metric is None else ev.episode_metrics.get(task.metric, np.array([]))
    return {"score": task.score(ev.fitness, ev.metrics), "passes": task.passes(ev.fitness, ev.metrics),
            "episodes": task.final_episodes, "score_std": float(np.std(per_episode)) if per_episode.size else None,
            "metrics": ev.metrics, "hyperparameters": member.hyperparameters(), "index": member.index}


def run_population_cell(task: Task, method: str, seed: int, root: Path, population: int | None) -> dict[str, Any]:
    config = cell_config(task, method, seed, root, population)
    tracker = SolveTracker(task, config)
    started = time.perf_counter()
    pop, _, _ = run_experiment(config, overwrite=True, verbose=False, stopping=[tracker])
    wall = time.perf_counter() - started
    return {"budget": config.population_size * config.training.max_steps, "population": config.population_size,
            "steps_per_member": config.training.max_steps, "curve": tracker.curve, "solve": tracker.solved,
            "total_steps": tracker.steps, "wall": wall, "final": final_evaluation(task, config, pop[tracker.position])}


def suggest(trial, space: HyperparameterConfig) -> dict[str, Any]:
    """Optuna suggestions over the same ranges (log scale where the range is on a log scale)."""
    values = {}
    for name in space:
        p = space[name]
        if p.scale == "horizon":  # log-uniform in the horizon 1 / (1 - value), as RLParameter.sample draws
            horizon = trial.suggest_float(f"{name}_horizon", 1 / (1 - p.min), 1 / (1 - p.max), log=True)
            values[name] = p.clip(1 - 1 / horizon)
        elif p.dtype is int:
            values[name] = trial.suggest_int(name, int(p.min), int(p.max), log=p.scale == "log")
        else:
            values[name] = trial.suggest_float(name, float(p.min), float(p.max), log=p.scale == "log")
    return values


def run_optuna_cell(task: Task, seed: int, root: Path, population: int | None) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = cell_config(task, "optuna", seed, root, population)
    budget, per_trial = base.population_size * base.training.max_steps, base.training.max_steps
    space = search_space(base)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=per_trial // 4))
    used, wall, best_so_far, curve, trials = 0, 0.0, -math.inf, [], []
    solved, keep = None, None  # keep: (score, member, config) of the trial whose member is reported
    while used < budget and solved is None:
        trial = study.ask()
        values = get_algorithm(base.algo).consistent_values(suggest(trial, space), base.env.num_envs)
        steps = min(per_trial, budget - used)
        config = cell_config(task, "optuna", 1000 * seed + trial.number, root, 1,
                             name=f"{task.name}__optuna__s{seed}__t{trial.number}",
                             extra=[f"training.max_steps={steps}"], hyperparameters=values)
        tracker = SolveTracker(task, config, used, wall, best_so_far, trial=trial)
        started = time.perf_counter()
        pop, _, _ = run_experiment(config, overwrite=True, verbose=False, stopping=[tracker])
        wall += time.perf_counter() - started
        used += tracker.steps
        best_so_far, solved = tracker.best_so_far, tracker.solved
        curve += tracker.curve
        state = optuna.trial.TrialState.PRUNED if tracker.pruned else optuna.trial.TrialState.COMPLETE
        study.tell(trial, tracker.run_best if state == optuna.trial.TrialState.COMPLETE else None, state=state)
        trials.append({"number": trial.number, "params": values, "steps": tracker.steps, "best": tracker.run_best,
                       "state": state.name, "solved": tracker.solved is not None})
        if solved or keep is None or tracker.run_best > keep[0]:
            keep = (tracker.run_best, pop[tracker.position], config)
    return {"budget": budget, "population": 1, "steps_per_member": per_trial, "curve": curve, "solve": solved,
            "total_steps": used, "wall": wall, "trials": trials, "final": final_evaluation(task, keep[2], keep[1])}


def cell_path(root: Path, task: str, method: str, seed: int) -> Path:
    return root / "cells" / f"{task}__{method}__s{seed}.json"


def _claim(lock: Path) -> bool:
    """Take a cell for this process (several invocations may share a root); a dead owner's claim is taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                os.kill(int(lock.read_text() or 0), 0)
                return False  # its owner is alive
            except (ProcessLookupError, ValueError):
                lock.unlink(missing_ok=True)
                continue
            except PermissionError:
                return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def run_cell(task: Task, method: str, seed: int, root: Path, population: int | None) -> dict[str, Any] | None:
    """Run one cell, or read its file when it is already done; None when another process is running it."""
    path = cell_path(root, task.name, method, seed)
    if path.exists():
        return json.loads(path.read_text())
    lock = path.with_suffix(".lock")
    if not _claim(lock):
        return None
    try:
        torch.set_num_threads(1)
        started = time.perf_counter()
        result = (run_optuna_cell(task, seed, root, population) if method == "optuna"
                  else run_population_cell(task, method, seed, root, population))
        result.update(task=task.name, method=method, seed=seed, threshold=task.threshold, date=str(date.today()),
                      machine=f"{platform.machine()}, torch {torch.__version__}", code=code_version(),
                      cell_wall=time.perf_counter() - started)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1, default=float))
        tmp.replace(path)
        return result
    finally:
        lock.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=[t for t in TASKS if t != "tiny"], choices=sorted(TASKS))
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--population", type=int, default=8, help="population size of every task (budget: "
                        "population x the config's training.max_steps)")
    parser.add_argument("--max-steps", type=int, default=None, help="env steps per member for every task (default: "
                        "each task's config); the budget is population x this")
    parser.add_argument("--root", default=str(DEFAULT_ROOT))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--range", type=parse_range, action="append", default=[], metavar="NAME=MIN:MAX",
                        help="change one range of every task's search space (repeatable; use its own --root)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                        help="override a field of every task's config, e.g. --set net_config.min_mlp_nodes=64 "
                        "(repeatable; use its own --root)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from the cell files")
    parser.add_argument("--references", action="store_true", help="measure the mpe2 reference scores and exit")
    args = parser.parse_args()
    if "optuna" in args.methods and not args.report_only and importlib.util.find_spec("optuna") is None:
        parser.error("method optuna needs the optuna package: pip install 'evo-marl[hpo]' (or leave optuna out of "
                     "--methods)")  # before any cell runs, not after hours of the other methods
    global MAX_STEPS
    MAX_STEPS = args.max_steps
    RANGES.update(args.range)
    SETS.extend(args.sets)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    if args.references:
        print(mpe_references())
        return
    root = Path(args.root)
    if not args.report_only:
        for seed in args.seeds:  # seed-major: every method of a task gets its first seed before any third seed
            for name in args.tasks:
                for method in args.methods:
                    done = cell_path(root, name, method, seed).exists()
                    r = run_cell(TASKS[name], method, seed, root, args.population)
                    if r is None:
                        print(f"{name} {method} seed {seed}: another process is running it", flush=True)
                        continue
                    solve = f"solved at {r['solve'][0]:,} steps" if r["solve"] else "not solved"
                    took = "cached" if done else f"{r['cell_wall']:.0f} s"
                    print(f"{name} {method} seed {seed}: {solve}; final score {r['final']['score']:.2f} ({took})",
                          flush=True)
    write_report(root, Path(args.out), args.tasks, args.methods, args.seeds, args.population, args.max_steps,
                 ranges=RANGES, sets=SETS)


if __name__ == "__main__":
    main()
