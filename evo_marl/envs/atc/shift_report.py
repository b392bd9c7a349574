"""Shift tests and conflict-detection analysis of a trained member, as a table and a plot
(``evo-marl analyse RUN_DIR --shifts``).

For every base scenario the member (or several members acting together, as a run that deploys an ensemble
does) flies the scenario itself and each one-agent perturbation of
:func:`~evo_marl.envs.atc.analysis.default_shifts` (heading, speed, start position, waypoint), acting by
role (:class:`~evo_marl.algorithms.roles.RolePolicy`), and every episode gets the conflict-detection
analysis of :mod:`~evo_marl.envs.atc.analysis`. The report pools the detections per scenario
(precision, recall, ghost and missed rates) and counts the variants flown without loss of separation
and with every waypoint reached ("clean").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.envs.atc.analysis import ShiftResult, evaluate_shifts
from evo_marl.envs.atc.render import _figure
from evo_marl.envs.atc.scenarios import shipped_scenarios
from evo_marl.envs.episodes import acting_greedily

CORE_SCENARIOS = ("head_on", "parallel", "t_formation", "canonical_crossing", "converging")
REPORT_MD = "shift_analysis.md"
REPORT_PNG = "shift_analysis.png"


def shift_results(member: Any, scenarios: Sequence[str], env_kwargs: dict[str, Any] | None = None,
                  seed: int = 0) -> dict[str, list[ShiftResult]]:
    """Baseline and shifted episodes of ``member`` (evaluation mode) on every base scenario; ``member`` may be a
    list of members, which act together (:class:`~evo_marl.algorithms.ensemble.EnsemblePolicy`)."""
    from evo_marl.algorithms.ensemble import EnsemblePolicy  # torch only when a member is analysed
    from evo_marl.envs.atc.env import parallel_env

    members = list(member) if isinstance(member, (list, tuple)) else [member]
    kwargs = dict(env_kwargs or {})
    with acting_greedily(members):
        policy = EnsemblePolicy(members, parallel_env(scenarios[0], **kwargs))
        return {s: evaluate_shifts(policy, s, seed=seed, **kwargs) for s in scenarios}


def _label(result: ShiftResult) -> str:
    if result.shift is None:
        return "baseline"
    _, kind, amount = result.shift
    if isinstance(amount, (tuple, list)):
        return f"{kind} ({amount[0]:+.1f}, {amount[1]:+.1f})"
    return f"{kind} {float(amount):+g}"


def _clean(result: ShiftResult) -> bool:
    m = result.tracks.metrics
    return bool(m.get("los_events", 1) == 0 and m.get("waypoint_fraction", 0) >= 1.0)


def pooled(results: Sequence[ShiftResult]) -> dict[str, float]:
    """Detections pooled over episodes, and the share of clean variants."""
    tp, fp, fn, tn = (sum(getattr(r.report, k) for r in results) for k in ("tp", "fp", "fn", "tn"))
    return {"variants": len(results), "clean": float(np.mean([_clean(r) for r in results])),
            "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
            "ghost_rate": fp / (fp + tn) if fp + tn else 0.0, "missed_rate": fn / (fn + tp) if fn + tp else 0.0}


def report_markdown(results: dict[str, list[ShiftResult]], title: str = "Shift tests") -> str:
    """Summary per scenario, then every variant."""
    lines = [f"# {title}", "",
             "Clean: no loss of separation and every aircraft at its waypoint. Detection (spec section 10): a step "
             "holds a true conflict when a pair of flying aircraft has dcpa < 5 NM within 120 s; an alert is a "
             "manoeuvre (>= 3 deg or >= 5 kt) that is not a turn to the waypoint while an intruder is within "
             "6 NM dcpa / 120 s. Precision = alerts that were real conflicts; recall = conflict steps alerted.", "",
             "| scenario | variants | clean | precision | recall | ghost rate | missed rate |", "|---|---:|---:|---:|---:|---:|---:|"]
    for scen, res in results.items():
        p = pooled(res)
        lines.append(f"| {scen} | {p['variants']} | {p['clean']:.0%} | {p['precision']:.2f} | {p['recall']:.2f} | "
                     f"{p['ghost_rate']:.2f} | {p['missed_rate']:.2f} |")
    lines += ["", "| scenario | variant | return | LoS events | min sep (NM) | waypoints | precision | recall |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for scen, res in results.items():
        for r in res:
            m = r.tracks.metrics
            lines.append(f"| {scen} | {_label(r)} | {m.get('team_return', math.nan):.2f} | "
                         f"{m.get('los_events', math.nan):.0f} | {m.get('min_separation_nm', math.nan):.2f} | "
                         f"{m.get('waypoint_fraction', math.nan):.0%} | {r.report.precision:.2f} | "
                         f"{r.report.recall:.2f} |")
    return "\n".join(lines) + "\n"


def plot_shifts(results: dict[str, list[ShiftResult]], path: str | Path | None = None, separation_nm: float = 5.0):
    """Minimum separation of every variant (one row of markers per scenario; red below separation) and the
    pooled detection precision / recall and clean share per scenario."""
    scen = list(results)
    fig = _figure((11.0, 3.0 + 0.45 * len(scen)), 100)
    ax, bx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for row, s in enumerate(scen):
        seps = np.array([r.tracks.metrics.get("min_separation_nm", np.nan) for r in results[s]])
        clean = np.array([_clean(r) for r in results[s]])
        y = np.full(len(seps), row) + np.linspace(-0.25, 0.25, len(seps))
        ax.scatter(seps[clean], y[clean], s=18, color="tab:green", label="clean" if row == 0 else None)
        ax.scatter(seps[~clean], y[~clean], s=18, color="tab:red", marker="x", label="not clean" if row == 0 else None)
        ax.scatter(seps[:1], [row - 0.25], s=60, facecolors="none", edgecolors="black",
                   label="baseline" if row == 0 else None)
    ax.axvline(separation_nm, color="red", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(scen)), scen, fontsize=8)
    ax.set_xlabel("episode minimum separation (NM)")
    ax.set_title("shift variants", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    stats = [pooled(results[s]) for s in scen]
    y = np.arange(len(scen))
    for k, (key, colour) in enumerate((("precision", "tab:blue"), ("recall", "tab:orange"), ("clean", "tab:green"))):
        bx.barh(y + (k - 1) * 0.27, [p[key] for p in stats], height=0.25, color=colour, label=key)
    bx.set_yticks(y, scen, fontsize=8)
    bx.set_xlim(0, 1.05)
    bx.set_title("conflict detection (pooled) and clean variants", fontsize=9)
    bx.legend(fontsize=7, loc="lower right")
    bx.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def default_scenarios(train_env_id: str | None) -> list[str]:
    """The run's own scenario where it is a shipped one, else the five core scenarios."""
    scenario = (train_env_id or "").split("/", 1)[-1]
    return [scenario] if scenario in shipped_scenarios() else list(CORE_SCENARIOS)


def analyse_run(run_dir: str | Path, scenarios: Sequence[str] | None = None, seed: int = 0, best: bool = False,
                ensemble: bool | int | None = None) -> tuple[str, list[Path]]:
    """Shift tests and detection analysis of a run as it deploys: its best member, or its members acting
    together where its config says ``output.deploy: ensemble``; ``ensemble`` (``True`` every member, ``k`` the
    ``k`` fittest, ``False`` the best alone) and ``best`` (its ``best/`` checkpoint) choose otherwise, as in
    :func:`~evo_marl.cross_evaluation.cross_evaluate`. Writes ``shift_analysis.md`` and ``.png`` in the run
    folder; returns the Markdown and the written paths."""
    from evo_marl.algorithms.ensemble import EnsemblePolicy
    from evo_marl.cross_evaluation import check_single_members, open_run
    from evo_marl.envs.atc.evaluation import transfer_kwargs

    check_single_members(ensemble, best=best)
    run = open_run(run_dir, best)
    config, members = run.config, run.deployed_members(ensemble)
    label = f"best member {members[0].index}" if len(members) == 1 else EnsemblePolicy(members).label
    scen = list(scenarios) if scenarios else default_scenarios(config.env.id)
    results = shift_results(members, scen, transfer_kwargs(config.env.kwargs) if config.env.id.startswith("atc/")
                            else {}, seed=seed)
    text = report_markdown(results, f"Shift tests of {Path(run_dir).name}, {label}")
    md, png = Path(run_dir) / REPORT_MD, Path(run_dir) / REPORT_PNG
    md.write_text(text)
    plot_shifts(results, png)
    return text, [md, png]
