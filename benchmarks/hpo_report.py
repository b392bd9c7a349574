"""The report of the HPO efficacy benchmark: a Markdown table per task and a best-so-far plot, from the cell files."""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from hpo_tasks import TASKS
from results_file import write_results

LABELS = {"tuned": "(f) evolution from the default config (tournament)", "tournament": "(a) evolution, tournament", "mfpbt": "(b) evolution, MF-PBT",
          "ttest": "(b2) evolution, PBT t-test selection", "random": "(c) random search",
          "optuna": "(d) Optuna TPE", "default": "(e) default config"}
EVOLUTION = ("tournament", "mfpbt", "ttest")  # the methods that select and mutate, from sampled hyperparameters
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}  # df -> t


def load_cells(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / "cells").glob("*.json"))]


def mean_t_interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of a Student-t 95 % interval over seeds (NaN half-width for one value)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return float(x.mean()) if x.size else math.nan, math.nan
    return float(x.mean()), T95.get(x.size - 1, 1.96) * float(x.std(ddof=1)) / math.sqrt(x.size)


def solve_steps(cell: dict[str, Any]) -> float:
    return float(cell["solve"][0]) if cell["solve"] else math.inf


def summarise(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (task, method): success rate, median steps and wall to solve, final score with its interval."""
    steps = [solve_steps(c) for c in cells]
    walls = [c["solve"][1] if c["solve"] else math.inf for c in cells]
    final = [c["final"]["score"] for c in cells]
    return {"n": len(cells), "solved": sum(math.isfinite(s) for s in steps), "median_steps": float(np.median(steps)),
            "median_wall": float(np.median(walls)), "steps": steps, "final": mean_t_interval(final),
            "budget": cells[0]["budget"], "wall": float(np.mean([c["wall"] for c in cells]))}


def _fmt_steps(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "not solved"


def task_table(task: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| method | solved | median env steps to solve | per seed | median wall to solve (s) | "
             "final score (mean ± 95 % CI) | mean cell wall (s) |", "|---|---|---|---|---|---|---|"]
    for method, s in rows.items():
        mean, half = s["final"]
        per_seed = ", ".join(f"{v / 1e3:.0f}k" if math.isfinite(v) else "-" for v in s["steps"])
        wall = f"{s['median_wall']:.0f}" if math.isfinite(s["median_wall"]) else "-"
        lines.append(f"| {LABELS.get(method, method)} | {s['solved']}/{s['n']} | {_fmt_steps(s['median_steps'])} | "
                     f"{per_seed} | {wall} | {mean:.2f} ± {half:.2f} | {s['wall']:.0f} |")
    return lines


def evolution_wins(rows: dict[str, dict[str, Any]]) -> bool | None:
    """True if an evolution method (tournament, MF-PBT or t-test selection) needs fewer median env steps to solve
    than random search and Optuna."""
    if not {"random", "optuna"} <= set(rows) or not set(EVOLUTION) & set(rows):
        return None
    evo = min(rows[m]["median_steps"] for m in EVOLUTION if m in rows)
    return math.isfinite(evo) and evo < rows["random"]["median_steps"] and evo < rows["optuna"]["median_steps"]


def step_curve(cell: dict[str, Any], grid: np.ndarray) -> np.ndarray:
    """Best-so-far score of a cell at each grid point (held from the last evaluation; NaN before the first)."""
    if not cell["curve"]:
        return np.full(grid.shape, np.nan)
    steps, _, best = (np.asarray(v, dtype=float) for v in zip(*cell["curve"]))
    idx = np.searchsorted(steps, grid, side="right") - 1
    out = np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan)
    if cell["solve"]:  # a solved cell stops; its best-so-far holds for the rest of the budget
        return out
    return np.where(grid <= steps[-1], out, np.nan)


def plot(by_task: dict[str, dict[str, list[dict[str, Any]]]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import FuncFormatter

    methods = ["tournament", "mfpbt", "random", "optuna", "default", "tuned", "ttest"]
    colors = {m: f"C{i}" for i, m in enumerate(methods)}
    n = len(by_task)
    cols = min(3, n)
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(5 * cols, 3.6 * math.ceil(n / cols)), squeeze=False)
    for ax, (task, methods) in zip(axes.flat, by_task.items()):
        budget = max(c["budget"] for cells in methods.values() for c in cells)
        grid = np.linspace(0, budget, 400)
        for method, cells in methods.items():
            curves = np.stack([step_curve(c, grid) for c in cells])
            with warnings.catch_warnings():  # grid points before a cell's first evaluation are NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                median, low, high = (f(curves, axis=0) for f in (np.nanmedian, np.nanmin, np.nanmax))
            color = colors.get(method)
            ax.step(grid, median, where="post", label=LABELS.get(method, method), color=color)
            ax.fill_between(grid, low, high, step="post", alpha=0.12, color=color)
        ax.axhline(TASKS[task].threshold, color="k", ls="--", lw=0.8, label="solve threshold")
        ax.set_title(task)
        ax.set_xlabel("total env steps")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1e3:.0f}k"))
        ax.set_ylabel("best-so-far score")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles = {}
    for ax in list(axes.flat)[:n]:  # one legend with every method that appears in any panel
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    axes.flat[0].legend(handles.values(), handles.keys(), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


DEFAULT_ROOT = Path("populations/bench_hpo")
DEFAULT_OUT = Path("benchmarks/results/hpo_efficacy.md")


def code_versions_line(cells: list[dict[str, Any]]) -> str:
    """Which code version each cell ran (recorded since 2026-12-06), with a warning when they differ: a resumed
    benchmark skips finished cells, so a root can hold cells of older code."""
    versions = Counter(cell.get("code", "not recorded") for cell in cells)
    listed = ", ".join(f"{code} ({n} cells)" for code, n in sorted(versions.items()))
    if len(versions) > 1:
        return (f"**Warning: the cells come from {len(versions)} code versions** ({listed}); compare methods only "
                "within one version, or re-run the cells into a fresh `--root`.")
    return f"Code version of every cell: {listed}."


def write_report(root: Path, out: Path, tasks: list[str], methods: list[str], seeds: list[int],
                 population: int = 8, max_steps: int | None = None,
                 ranges: dict[str, tuple[float, float]] | None = None, sets: list[str] | None = None) -> Path:
    cells = [c for c in load_cells(root) if c["task"] in tasks and c["method"] in methods and c["seed"] in seeds]
    by_task: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for task in tasks:
        for method in methods:
            found = [c for c in cells if c["task"] == task and c["method"] == method]
            if found:
                by_task.setdefault(task, {})[method] = found
    png = plot(by_task, out.with_suffix(".png")) if by_task else None
    dates = sorted({c["date"] for c in cells})
    lines = ["# HPO efficacy: evolution vs random search, Optuna TPE and the default config", "",
             f"Measured {', '.join(dates) or '-'} on {cells[0]['machine'] if cells else '-'} with 2 shared CPU cores "
             "(torch 1 thread; other benchmark processes shared the cores: wall times are indicative) with",
             f"`python benchmarks/bench_hpo.py --tasks {' '.join(tasks)} --methods {' '.join(methods)} "
             f"--seeds {' '.join(map(str, seeds))} --population {population}"
             + (f" --max-steps {max_steps}" if max_steps else "")
             + "".join(f" --range {name}={low:g}:{high:g}" for name, (low, high) in (ranges or {}).items())
             + "".join(f" --set {item}" for item in (sets or []))
             + (f" --root {root}" if root != DEFAULT_ROOT else "")
             + (f" --out {out}" if out != DEFAULT_OUT else "") + "`.", "",
             "Every method spends the same budget of total env steps (all members together; evaluation episodes "
             "are not counted). Steps to solve: total env steps at the first evaluation where a member passed the "
             "task's test (a stochastic task confirms it on fresh episodes); a cell that never solved counts as "
             "infinite, so a median needs at least half the seeds solved. Final score: the solving member (or the "
             "last generation's best) on fresh episodes, mean over seeds with a Student-t 95 % interval. "
             "Definitions of every task, threshold and method: `benchmarks/hpo_tasks.py`, `benchmarks/bench_hpo.py`.",
             "", code_versions_line(cells), ""]
    wins = {task: evolution_wins({m: summarise(c) for m, c in rows.items()}) for task, rows in by_task.items()}
    decided = [t for t, w in wins.items() if w is not None]
    if decided:
        lines += [f"**Evolution (a, b or b2) solved with fewer median env steps than both random search and Optuna on "
                  f"{sum(bool(wins[t]) for t in decided)} of {len(decided)} tasks** "
                  f"({', '.join(t for t in decided if wins[t]) or 'none'}).", ""]
    else:
        methods = sorted({m for rows in by_task.values() for m in rows})
        lines += ["**Evolution against random search and Optuna: not decided by this run** (that needs tournament "
                  f"or MF-PBT, random search and Optuna cells of a task; methods run: {', '.join(methods)}).", ""]
    if png:
        lines += [f"![best-so-far score against total env steps]({png.name})", "",
                  "Plot: median over seeds of the best-so-far score (lines) and the range over seeds (shaded); "
                  "the dashed line is the solve threshold.", ""]
    for task, rows in by_task.items():
        t = TASKS[task]
        budget = next(iter(rows.values()))[0]["budget"]
        lines += [f"## {task}", "", f"Threshold: score >= {t.threshold:g} ({t.source}); budget {budget:,} env steps.",
                  ""]
        lines += task_table(task, {m: summarise(c) for m, c in rows.items()})
        lines.append("")
    return write_results(out, lines)
