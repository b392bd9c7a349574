"""A human-readable Markdown summary of a run folder (``evo-marl report RUN_DIR``).

:func:`build_report` returns the text; :func:`write_report` draws the plots and writes ``<run_dir>/report.md``.
Links are relative to the run folder, so the report renders next to its PNGs.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from evo_marl.run_folder import BEST_DIR, latest_complete_generation, write_text_atomic
from evo_marl.tracking.run_data import MUTATION_KINDS, RunData, load_run, read_wandb_info
from evo_marl.tracking.writers import GENERATION_FILE, MEMBER_FILE
from evo_marl.training import checkpoint as ckpt

logger = logging.getLogger(__name__)
REPORT_FILE = "report.md"
SPARK = "▁▂▃▄▅▆▇█"
MAX_TABLE_ROWS = 20


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def sparkline(values: list[float], width: int = 60) -> str:
    """Unicode sparkline of ``values`` (at most ``width`` characters; NaN shows as a space)."""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low
    top = len(SPARK) - 1
    return "".join(" " if not math.isfinite(v) else SPARK[0 if span == 0 else round((v - low) / span * top)]
                   for v in values)


def _latest_manifest(run_dir: Path) -> tuple[Path | None, dict[str, Any]]:
    """The newest complete generation and its manifest (a newer incomplete one is skipped with a warning)."""
    latest = latest_complete_generation(run_dir)
    return (None, {}) if latest is None else (latest, ckpt.read_manifest(latest))


def _best_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest of ``best/`` (empty when the run has none or it cannot be read)."""
    if not (run_dir / BEST_DIR).is_dir():
        return {}
    try:
        return ckpt.read_manifest(run_dir / BEST_DIR)
    except Exception as err:  # a report of a damaged run still shows the metrics
        logger.warning("cannot read %s: %s", run_dir / BEST_DIR, err)
        return {}


def _run_config(run_dir: Path) -> dict[str, Any]:
    """The run's ``config.yaml`` as a dict (empty when absent or unreadable)."""
    import yaml

    try:
        loaded = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _overview(data: RunData, latest: Path | None, manifest: dict[str, Any]) -> list[str]:
    sig = manifest.get("signature", {})
    config = _run_config(data.run_dir)
    gens = data.generation_numbers
    last = data.generations[-1] if data.generations else {}
    population = len(data.by_generation()[gens[-1]])
    rows = [("Run folder", f"`{data.run_dir.resolve()}`")]
    if sig:
        rows.append(("Algorithm / environment", f"{sig.get('algo', '?')} on `{sig.get('env_name', '?')}` "
                                                f"({', '.join(sig.get('agent_ids', []))})"))
    elif config.get("algo"):
        rows.append(("Algorithm / environment", f"{config['algo']} on `{(config.get('env') or {}).get('id', '?')}`"))
    if config.get("engine", "evo-marl") != "evo-marl":
        rows.append(("Engine", f"{config['engine']} (its population is saved in its own format: docs/interop.md)"))
    if (config.get("output") or {}).get("deploy") == "ensemble":
        rows.append(("Deployment", "the final population acting together (`output.deploy: ensemble`): "
                                   f"`evo-marl evaluate {data.run_dir}`; `--best` for the best member below"))
    steps = max(m.steps for m in data.by_generation()[gens[-1]])
    total = last.get("train/total_steps")
    rows.append(("Generations", f"{len(gens)} (last: {gens[-1]})"))
    rows.append(("Fitness", data.fitness_description))
    rows.append(("Population", f"{population} members, {steps} environment steps per member"
                 + (f", {int(total):,} transitions in total" if isinstance(total, float) and math.isfinite(total) else "")))
    if isinstance(last.get("train/wall_time"), float):
        rows.append(("Wall time", f"{last['train/wall_time']:.1f} s"))
    tps = [g.get("train/transitions_per_second") for g in data.generations]
    tps = [v for v in tps if isinstance(v, float) and math.isfinite(v)]
    if tps:
        rows.append(("Throughput", f"{sum(tps) / len(tps):.0f} transitions/s (mean over generations)"))
    if manifest:
        reason = manifest.get("stop_reason")
        rows.append(("Stopped", f"criterion `{reason}` fired" if reason else "budget spent (or still running)"))
    if latest is not None:
        rows.append(("Latest checkpoint", f"[`{latest.name}/`]({latest.name}/)"))
    return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]


def _best_section(data: RunData, latest: Path | None, manifest: dict[str, Any]) -> list[str]:
    best = data.best()
    total = len(data.members)
    lines = ["## Best member", "",
             f"**Member #{best.index}** (generation {best.generation}) reached fitness **{_fmt(best.fitness)}**, "
             f"the best of {total} member evaluations.", ""]
    parent = f"#{best.parent}" if best.parent is not None else "none (initial population)"
    lines.append(f"- Parent: {parent}; mutation: `{best.mutation}` ({best.kind})")
    lines.append(f"- Trained for {best.steps} steps; activation {best.activation}; "
                 f"{best.parameter_count:,} parameters")
    if best.eval_metrics:
        lines.append("- Episode metrics: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in sorted(best.eval_metrics.items())))
    entries = manifest.get("members", [])
    saved = next((e for e in entries if e.get("index") == best.index), None)
    kept = _best_manifest(data.run_dir).get("best") or {}
    if kept:
        same = kept.get("index") == best.index and kept.get("generation") == best.generation
        who = "It is" if same else (f"Member #{kept.get('index')} of generation {kept.get('generation')} "
                                    f"(fitness {_fmt(kept.get('fitness'))}) is")
        lines.append(f"- {who} kept as evaluated in [`{BEST_DIR}/`]({BEST_DIR}/), never rotated away: "
                     f"`evo-marl evaluate {data.run_dir} --best`, or "
                     f"`evo_marl.load_population(\"{data.run_dir}\", best=True)[0]`")
    if latest is not None and saved is not None:
        k = entries.index(saved)
        lines.append(f"- Also in the latest checkpoint as `{latest.name}/{saved.get('file')}` "
                     f"(`load_population(\"{latest}\")[{k}]`, trained further since)")
    elif latest is not None and not kept:
        lines.append(f"- Not in the latest checkpoint (`{latest.name}`): selection replaced it later")
    final = [m for m in data.by_generation()[data.generation_numbers[-1]] if math.isfinite(m.fitness)]
    top = max(final, key=lambda m: m.fitness) if final else None
    if top is not None and top is not best:
        lines.append(f"- Best of the final generation {top.generation}: member #{top.index}, "
                     f"fitness {_fmt(top.fitness)}")
    first = data.members[0].hyperparameters
    lines += ["", "### Hyperparameters", "", "| name | value | initial |", "|---|---|---|"]
    for name, value in sorted(best.hyperparameters.items()):
        initial = first.get(name)
        mark = "" if initial == value else " (changed)"
        lines.append(f"| {name} | {_fmt(value)}{mark} | {_fmt(initial)} |")
    lines += ["", "### Architecture", "", "| network | hidden layers |", "|---|---|"]
    lines += [f"| {net} | {layers} |" for net, layers in sorted(best.architecture.items())]
    chain = data.lineage(best)
    lines += ["", "### Lineage (newest first)", "", "| generation | member | fitness | mutation received |",
              "|---|---|---|---|"]
    lines += [f"| {m.generation} | #{m.index} | {_fmt(m.fitness)} | `{m.mutation}` ({m.kind}) |" for m in chain]
    return lines


def _subsample(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(rows) <= MAX_TABLE_ROWS:
        return rows
    picks = sorted({round(i * (len(rows) - 1) / (MAX_TABLE_ROWS - 1)) for i in range(MAX_TABLE_ROWS)})
    return [rows[i] for i in picks]


def _curve_section(data: RunData) -> list[str]:
    gens = data.generations or [
        {"generation": g, "evo/best_fitness": max((m.fitness for m in ms), default=math.nan)}
        for g, ms in sorted(data.by_generation().items())]
    best = [float(g.get("evo/best_fitness", math.nan)) for g in gens]
    finite = [v for v in best if math.isfinite(v)]
    lines = ["## Fitness over generations", ""]
    if finite:
        lines += [f"Best fitness per generation: `{sparkline(best)}` (from {_fmt(best[0])} to {_fmt(best[-1])}, "
                  f"peak {_fmt(max(finite))})", ""]
    lines += ["| generation | best | mean | min | best member | transitions/s |", "|---|---|---|---|---|---|"]
    for g in _subsample(gens):
        member = g.get("evo/best_member")
        lines.append(f"| {g.get('generation')} | {_fmt(g.get('evo/best_fitness'))} | {_fmt(g.get('evo/mean_fitness'))} "
                     f"| {_fmt(g.get('evo/min_fitness'))} | {'#%d' % member if isinstance(member, float) else '-'} "
                     f"| {_fmt(g.get('train/transitions_per_second'))} |")
    if len(gens) > MAX_TABLE_ROWS:
        lines.append(f"\n({MAX_TABLE_ROWS} of {len(gens)} generations shown; all are in `{GENERATION_FILE}`.)")
    return lines


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _mutation_section(data: RunData) -> list[str]:
    """Per mutation kind: how many children, their fitness against their parent and against the generation's
    elite (the unmutated survivor trained on the same data), and how often one was the generation's best."""
    vs_parent: dict[str, list[float]] = {}
    vs_elite: dict[str, list[float]] = {}
    winners: dict[str, int] = {}
    children: dict[str, int] = {}
    for g, members in data.by_generation().items():
        finite = [x for x in members if math.isfinite(x.fitness)]
        top = max(finite, key=lambda x: x.fitness) if finite else None
        elite = next((x for x in finite if x.kind == "elite"), None)
        for m in members:
            parent = data.parent_of(m)
            if parent is None:
                continue
            children[m.kind] = children.get(m.kind, 0) + 1
            winners[m.kind] = winners.get(m.kind, 0) + (m is top)
            if math.isfinite(m.fitness) and math.isfinite(parent.fitness):
                vs_parent.setdefault(m.kind, []).append(m.fitness - parent.fitness)
            if elite is not None and m is not elite and math.isfinite(m.fitness):
                vs_elite.setdefault(m.kind, []).append(m.fitness - elite.fitness)
    if not children:
        return []
    lines = ["## Mutations", "", "Fitness changes are means over the children of each kind; against the parent "
             "they include one more generation of learning, against the elite (the unmutated survivor of the "
             "same generation) they do not.", "",
             "| kind | children | vs parent | vs the generation's elite | best of its generation |",
             "|---|---|---|---|---|"]
    for kind in MUTATION_KINDS:
        if kind in children:
            elite_col = "-" if kind == "elite" else _fmt(_mean(vs_elite.get(kind, [])))
            lines.append(f"| {kind} | {children[kind]} | {_fmt(_mean(vs_parent.get(kind, [])))} | {elite_col} "
                         f"| {winners.get(kind, 0)} |")
    return lines


def _files_section(data: RunData) -> list[str]:
    run_dir = data.run_dir
    lines = ["## Files", ""]
    first = {"fitness.png": 0, "hyperparameters.png": 1, "family_tree.png": 2}
    plots = sorted(run_dir.glob("*.png"), key=lambda p: (first.get(p.name, 3), p.name))
    if plots:
        lines += [f"- Plot: [{p.stem.replace('_', ' ')}]({p.name})" for p in plots]
        lines += ["", *[f"![{p.stem}]({p.name})" for p in plots], ""]
    else:
        lines.append("- Plots: none yet (`write_report(run_dir)`, `build_report(run_dir, make_plots=True)` or "
                     "`evo_marl.tracking.plots.plot_run(run_dir)` draws them)")
    if (run_dir / "config.yaml").exists():
        lines.append("- [`config.yaml`](config.yaml): the experiment configuration (re-run or resume with it)")
    lines.append(f"- [`{MEMBER_FILE}`]({MEMBER_FILE}): one row per member per generation (fitness, lineage, "
                 "hyperparameters, architecture, episode metrics, losses)")
    if (run_dir / GENERATION_FILE).exists():
        lines.append(f"- [`{GENERATION_FILE}`]({GENERATION_FILE}): one row per generation (best/mean/min fitness, "
                     "throughput, phase timings, the best member's episode metrics)")
    for gen_dir in ckpt.generation_dirs(run_dir):
        lines.append(f"- [`{gen_dir.name}/`]({gen_dir.name}/): checkpoint (manifest.json, member_<k>.pt"
                     + (", buffer.pt)" if (gen_dir / "buffer.pt").exists() else ")"))
    if (run_dir / BEST_DIR).is_dir():
        lines.append(f"- [`{BEST_DIR}/`]({BEST_DIR}/): the best member ever evaluated (manifest.json, member_0.pt)")
    return lines


def _wandb_section(run_dir: Path) -> list[str]:
    info = read_wandb_info(run_dir)
    lines = ["## Weights & Biases", ""]
    if info is None:
        return lines + ["W&B was off for this run. Turn it on with `wb=True` (or `tracking.wandb: true` in a config); "
                        "`WANDB_MODE=offline` logs without network or account."]
    run_id, project = info.get("id"), info.get("project") or "evo-marl"
    if info.get("mode") == "online" and info.get("url"):
        return lines + [f"Dashboard: <{info['url']}> (run `{run_id}`, project `{project}`)."]
    if info.get("mode") == "disabled":
        return lines + ["W&B ran in `disabled` mode: nothing was recorded."]
    dirs = [d for d in info.get("offline_dirs", []) if Path(d).exists()]
    synced = [d for d in dirs if list(Path(d).glob("*.wandb.synced"))]
    lines.append(f"Offline W&B run `{run_id}` (project `{project}`), recorded in {len(dirs)} folder(s) "
                 f"({len(synced)} already synced). Upload it once with an account (`wandb login`), then open the "
                 f"run `{run_id}` of project `{project}` on wandb.ai:")
    lines += ["", "```", f"wandb sync --id {run_id} -p {project} " + " ".join(dirs or ["<run_dir>/wandb/offline-run-*"]),
              "```", "", "Or browse it locally in the terminal without uploading: "
              f"`wandb leet {run_dir / 'wandb'}`."]
    return lines


def build_report(run_dir: str | Path, make_plots: bool = False) -> str:
    """The Markdown report of a run folder (best member, hyperparameters, architecture, lineage, fitness
    curve, mutation statistics, files, W&B). ``make_plots`` draws the PNGs first so the report links them.

    Raises:
        ConfigError: ``run_dir`` is not a run folder with metrics.
    """
    data = load_run(run_dir)
    if make_plots:
        from evo_marl.tracking.plots import plot_run

        plot_run(data.run_dir)
    latest, manifest = _latest_manifest(data.run_dir)
    sections = [[f"# evo-marl run report: `{data.run_dir.name}`", ""] + _overview(data, latest, manifest),
                _best_section(data, latest, manifest), _curve_section(data), _mutation_section(data),
                _files_section(data), _wandb_section(data.run_dir)]
    return "\n".join("\n".join(s) for s in sections if s).replace("\n## ", "\n\n## ") + "\n"


def write_report(run_dir: str | Path, make_plots: bool = True, filename: str = REPORT_FILE) -> Path:
    """Draw the plots (unless ``make_plots`` is False) and write the report to ``<run_dir>/report.md``."""
    text = build_report(run_dir, make_plots=make_plots)
    path = Path(run_dir) / filename
    write_text_atomic(path, text, run_dir)
    return path


__all__ = ["build_report", "sparkline", "write_report"]
