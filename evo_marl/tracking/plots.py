"""PNG plots of a run folder: fitness per member, hyperparameter trajectories, the population family tree.

Every function takes a run folder, reads ``metrics.csv`` (see :mod:`evo_marl.tracking.run_data`) and writes
a PNG into the run folder. Figures are drawn on matplotlib's Agg canvas without pyplot, so plotting
never changes the backend of a notebook or needs a display.

Env-specific plots (e.g. trajectories of the best member) plug in through
:func:`register_plotter` or ``plot_run(..., extra_plotters=[...])``: a plotter is
``fn(run_dir: Path, out_dir: Path) -> Path | list[Path] | None`` (None when the run is not its scenario).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from evo_marl.errors import ConfigError
from evo_marl.run_folder import atomic_file
from evo_marl.tracking.run_data import MUTATION_KINDS, MemberRow, RunData, load_run

logger = logging.getLogger(__name__)
Plotter = Callable[[Path, Path], "Path | Sequence[Path] | None"]
KIND_COLORS = {"initial": "#7f7f7f", "elite": "#000000", "none": "#9e9e9e", "parameters": "#1f77b4", "rl_hp": "#ff7f0e",
               "architecture": "#2ca02c", "activation": "#9467bd"}
KIND_LABELS = {"initial": "initial population", "elite": "elite (kept unchanged)", "none": "copy, no mutation", "parameters": "weights perturbed",
               "rl_hp": "RL hyperparameter", "architecture": "architecture", "activation": "activation"}
BEST_COLOR = "#e6ab02"
_REGISTERED: dict[str, Plotter] = {}
_LABEL_LIMIT = 8 * 25  # annotate member indices only when population x generations is at most this


def register_plotter(name: str, plotter: Plotter) -> None:
    """Add a plotter that :func:`plot_run` calls for every run (scenario modules use this hook)."""
    if not callable(plotter):
        raise ConfigError("plotter", plotter, "must be callable as fn(run_dir, out_dir) -> Path | list[Path] | None")
    _REGISTERED[name] = plotter


def registered_plotters() -> dict[str, Plotter]:
    return dict(_REGISTERED)


def _out_dir(run_dir: Path, out_dir: str | Path | None) -> Path:
    path = Path(out_dir) if out_dir is not None else Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save(fig: Figure, path: Path) -> Path:
    """Draw ``fig`` into ``path`` atomically (a re-drawn plot replaces the old one whole)."""
    FigureCanvasAgg(fig)
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=110)
    return path


def _positions(data: RunData) -> dict[tuple[int, int], float]:
    """A y position per (generation, index) for the family tree: children sit next to their parents."""
    pos: dict[tuple[int, int], float] = {}
    for g, members in sorted(data.by_generation().items()):
        def order(m: MemberRow, g: int = g) -> tuple[float, int]:
            return (pos.get((g - 1, m.parent), math.inf) if m.parent is not None else math.inf, m.index)

        ranked = sorted(members, key=order) if g > min(data.generation_numbers) else members
        for y, m in enumerate(ranked):
            pos[(g, m.index)] = float(y)
    return pos


def _lineage_segments(data: RunData, value: Callable[[MemberRow], float]) -> list[tuple[MemberRow, MemberRow]]:
    rows = {(m.generation, m.index): m for m in data.members}
    return [(rows[(m.generation - 1, m.parent)], m) for m in data.members
            if m.parent is not None and (m.generation - 1, m.parent) in rows
            and math.isfinite(value(rows[(m.generation - 1, m.parent)])) and math.isfinite(value(m))]


def _best_per_generation(data: RunData) -> list[MemberRow]:
    out = []
    for _, members in sorted(data.by_generation().items()):
        finite = [m for m in members if math.isfinite(m.fitness)]
        if finite:
            out.append(max(finite, key=lambda m: m.fitness))
    return out


def _kind_legend(kinds: set[str]) -> list[Line2D]:
    return [Line2D([], [], color=KIND_COLORS[k], marker="o", linestyle="-", label=KIND_LABELS[k])
            for k in MUTATION_KINDS if k in kinds]


def _draw_fitness(ax, data: RunData, label_best: bool) -> None:
    for parent, child in _lineage_segments(data, lambda m: m.fitness):
        elite = child.kind == "elite"
        ax.plot([parent.generation, child.generation], [parent.fitness, child.fitness],
                color=KIND_COLORS[child.kind], lw=2.6 if elite else 1.0, alpha=0.9 if elite else 0.5,
                zorder=2 if elite else 1)
    finite = [m for m in data.members if math.isfinite(m.fitness)]
    ax.scatter([m.generation for m in finite], [m.fitness for m in finite], s=28, zorder=3,
               c=[KIND_COLORS[m.kind] for m in finite], edgecolors="white", linewidths=0.5)
    best = _best_per_generation(data)
    ax.plot([m.generation for m in best], [m.fitness for m in best], color=BEST_COLOR, lw=1.2, zorder=4)
    ax.scatter([m.generation for m in best], [m.fitness for m in best], marker="*", s=180, color=BEST_COLOR,
               edgecolors="black", linewidths=0.6, zorder=5)
    means = [(g, sum(v) / len(v)) for g, v in ((g, [m.fitness for m in ms if math.isfinite(m.fitness)])
                                                for g, ms in sorted(data.by_generation().items())) if v]
    ax.plot([g for g, _ in means], [v for _, v in means], "--", color="#555555", lw=1.2, zorder=2)
    failed = [m for m in data.members if not math.isfinite(m.fitness)]
    if failed and finite:
        low = min(m.fitness for m in finite)
        ax.scatter([m.generation for m in failed], [low] * len(failed), marker="x", color="red", s=40, zorder=5)
    if label_best and len(best) <= 30:
        for m in best:
            ax.annotate(f"#{m.index}", (m.generation, m.fitness), textcoords="offset points", xytext=(0, 9),
                        ha="center", fontsize=7.5, color="#333333", zorder=6)
    ax.set_xticks(_ticks(data.generation_numbers))
    ax.grid(alpha=0.3)


def _zoom_data(data: RunData) -> RunData | None:
    """The second half of the run when its fitness range is much narrower than the whole run's."""
    gens = data.generation_numbers
    if len(gens) < 4:
        return None
    late = set(gens[len(gens) // 2:])
    values = [m.fitness for m in data.members if math.isfinite(m.fitness)]
    late_values = [m.fitness for m in data.members if m.generation in late and math.isfinite(m.fitness)]
    if not values or not late_values:
        return None
    if (max(late_values) - min(late_values)) > 0.25 * (max(values) - min(values)):
        return None
    keep = late | {min(late) - 1}
    return dataclasses.replace(data, members=[m for m in data.members if m.generation in keep])


def plot_fitness(run_dir: str | Path, out_dir: str | Path | None = None, data: RunData | None = None) -> Path:
    """``fitness.png``: every member's fitness per generation, joined to its parent (coloured by the child's
    mutation); elites and the best of each generation highlighted; population mean dashed. When early
    generations dwarf the later ones, a second panel zooms on the second half of the run."""
    data = data or load_run(run_dir)
    zoom = _zoom_data(data)
    fig = Figure(figsize=(14 if zoom else 10, 6.2))
    ax = fig.add_subplot(1, 2 if zoom else 1, 1)
    _draw_fitness(ax, data, label_best=zoom is None)
    if zoom is not None:
        zax = fig.add_subplot(1, 2, 2)
        _draw_fitness(zax, zoom, label_best=True)
        first = min(g for g in zoom.generation_numbers)
        late = [m.fitness for m in zoom.members if m.generation > first and math.isfinite(m.fitness)]
        pad = 0.15 * (max(late) - min(late) or abs(max(late)) or 1.0)
        zax.set_ylim(min(late) - pad, max(late) + pad)
        zax.set_xlim(first + 0.6, max(zoom.generation_numbers) + 0.4)
        zax.set_title("zoom: second half of the run", fontsize=10)
        zax.set_xlabel("generation")
    kinds = {m.kind for m in data.members if m.parent is not None}
    handles = _kind_legend(kinds) + [
        Line2D([], [], color=BEST_COLOR, marker="*", markersize=12, markeredgecolor="black", label="best of generation"),
        Line2D([], [], color="#555555", linestyle="--", label="population mean")]
    if any(not math.isfinite(m.fitness) for m in data.members):
        handles.append(Line2D([], [], color="red", marker="x", linestyle="", label="failed (NaN fitness)"))
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=min(len(handles), 5), frameon=False,
               title="line: parent -> child, coloured by the child's mutation", title_fontsize=8)
    ax.set(xlabel="generation", ylabel=f"fitness ({data.fitness_description})")
    fig.suptitle(f"Fitness per member - {data.run_dir.name}", fontsize=12)
    fig.tight_layout(rect=(0, 0.13 if len(handles) > 5 else 0.09, 1, 1))
    return _save(fig, _out_dir(data.run_dir, out_dir) / "fitness.png")


def _ticks(generations: list[int]) -> list[int]:
    step = max(1, math.ceil(len(generations) / 20))
    return generations[::step]


def _numeric(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


def varying_hyperparameters(data: RunData) -> list[str]:
    """Numeric hyperparameters whose value differs between members or generations."""
    values: dict[str, set[float]] = {}
    for m in data.members:
        for name, value in m.hyperparameters.items():
            if (v := _numeric(value)) is not None:
                values.setdefault(name, set()).add(v)
    return sorted(n for n, v in values.items() if len(v) > 1)


def plot_hyperparameters(run_dir: str | Path, out_dir: str | Path | None = None,
                         data: RunData | None = None) -> Path:
    """``hyperparameters.png``: one panel per mutated hyperparameter (and the parameter count): each member's
    value per generation joined to its parent, mutated values in orange, the best member's value in gold."""
    data = data or load_run(run_dir)
    names = varying_hyperparameters(data) + ["parameter_count"]
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(max(8.0, 4.6 * ncols), 3.3 * nrows + 1.0))
    best = {m.generation: m for m in _best_per_generation(data)}
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, i + 1)

        def value(m: MemberRow, name: str = name) -> float:
            raw = m.parameter_count if name == "parameter_count" else m.hyperparameters.get(name)
            v = _numeric(raw)
            return v if v is not None else math.nan

        for parent, child in _lineage_segments(data, value):
            ax.plot([parent.generation, child.generation], [value(parent), value(child)], color="#bbbbbb", lw=0.8)
        changed = (lambda m: m.kind == "architecture") if name == "parameter_count" else \
            (lambda m, n=name: m.mutation.startswith(f"{n}:"))
        pts = [m for m in data.members if math.isfinite(value(m))]
        ax.scatter([m.generation for m in pts], [value(m) for m in pts], s=18, zorder=3,
                   c=["#ff7f0e" if changed(m) else "#4c72b0" for m in pts])
        trail = [m for _, m in sorted(best.items()) if math.isfinite(value(m))]
        ax.plot([m.generation for m in trail], [value(m) for m in trail], color=BEST_COLOR, lw=2, zorder=4,
                marker="*", markersize=9, markeredgecolor="black", markeredgewidth=0.4)
        finite = [value(m) for m in pts]
        if finite and min(finite) > 0 and max(finite) / min(finite) > 20:
            ax.set_yscale("log")
        elif finite and all(float(v).is_integer() for v in finite):  # batch sizes, learn steps: whole ticks
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.set_title(name, fontsize=10)
        if i >= len(names) - ncols:
            ax.set_xlabel("generation", fontsize=9)
        ax.set_xticks(_ticks(data.generation_numbers))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color="#4c72b0", marker="o", linestyle="", label="member"),
               Line2D([], [], color="#ff7f0e", marker="o", linestyle="", label="just mutated"),
               Line2D([], [], color=BEST_COLOR, marker="*", markeredgecolor="black", label="best of generation")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    title = "Hyperparameter trajectories" if len(names) > 1 else "Hyperparameter trajectories (none was mutated)"
    fig.suptitle(f"{title} - {data.run_dir.name}", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, _out_dir(data.run_dir, out_dir) / "hyperparameters.png")


def _rank_in_generation(data: RunData) -> dict[tuple[int, int], float]:
    """Each finite member's fitness rank within its generation, scaled to [0 (worst), 1 (best)]."""
    out: dict[tuple[int, int], float] = {}
    for g, members in data.by_generation().items():
        finite = sorted((m for m in members if math.isfinite(m.fitness)), key=lambda m: m.fitness)
        for r, m in enumerate(finite):
            out[(g, m.index)] = r / (len(finite) - 1) if len(finite) > 1 else 1.0
    return out


def plot_family_tree(run_dir: str | Path, out_dir: str | Path | None = None, data: RunData | None = None,
                     max_generations: int | None = 60) -> Path:
    """``family_tree.png``: members (dots coloured by fitness) per generation, an edge from each parent coloured
    by the mutation its child received, the ancestry of the last generation's best member traced in gold."""
    data = data or load_run(run_dir)
    gens = data.generation_numbers
    if max_generations is not None and len(gens) > max_generations:
        keep = set(gens[-max_generations:])
        data = RunData(data.run_dir, [m for m in data.members if m.generation in keep], data.generations)
        gens = data.generation_numbers
    pos = _positions(data)
    pop = max(len(ms) for ms in data.by_generation().values())
    fig = Figure(figsize=(min(max(9.0, 4 + 0.6 * len(gens)), 18), min(max(4.5, 2.5 + 0.45 * pop), 14)))
    ax = fig.add_subplot()
    rows = {(m.generation, m.index): m for m in data.members}
    final = [m for m in data.by_generation()[gens[-1]] if math.isfinite(m.fitness)]
    champion = max(final, key=lambda m: m.fitness) if final else data.members[-1]
    ancestry = {(m.generation, m.index) for m in data.lineage(champion)}
    for m in data.members:
        key = (m.generation - 1, m.parent)
        if m.parent is None or key not in rows:
            continue
        x, y = [m.generation - 1, m.generation], [pos[key], pos[(m.generation, m.index)]]
        if (m.generation, m.index) in ancestry:
            ax.plot(x, y, color=BEST_COLOR, lw=7, alpha=0.6, solid_capstyle="round", zorder=1)
        ax.plot(x, y, color=KIND_COLORS[m.kind], lw=2.2 if m.kind == "elite" else 1.4, zorder=2)
    finite = [m for m in data.members if math.isfinite(m.fitness)]
    rank = _rank_in_generation(data)
    cmap = matplotlib.colormaps["viridis"]
    points = ax.scatter([m.generation for m in finite], [pos[(m.generation, m.index)] for m in finite],
                        c=[rank[(m.generation, m.index)] for m in finite], cmap=cmap, vmin=0.0, vmax=1.0, s=170,
                        edgecolors="black", linewidths=0.6, zorder=3)
    failed = [m for m in data.members if not math.isfinite(m.fitness)]
    ax.scatter([m.generation for m in failed], [pos[(m.generation, m.index)] for m in failed], marker="X",
               color="red", s=110, zorder=3)
    if len(data.members) <= 4 * _LABEL_LIMIT:
        for m in data.members:
            ax.annotate(str(m.index), (m.generation, pos[(m.generation, m.index)]), ha="center", va="center",
                        fontsize=6.5, zorder=4, fontweight="bold",
                        color="white" if rank.get((m.generation, m.index), 1.0) < 0.55 else "black")
    if finite:
        bar = fig.colorbar(points, ax=ax, fraction=0.04, pad=0.01, ticks=[0, 1])
        bar.ax.set_yticklabels(["worst", "best"])
        bar.set_label("fitness rank within its generation")
    handles = _kind_legend({m.kind for m in data.members if m.parent is not None}) + [
        Line2D([], [], color=BEST_COLOR, lw=6, alpha=0.6,
               label=f"ancestry of #{champion.index}, best of the last generation")]
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4,
              frameon=False)
    ax.set(xlabel="generation", ylabel="members (children next to their parents)",
           title=f"Population family tree - {data.run_dir.name}\n(node label: member index)")
    ax.set_xticks(_ticks(gens))
    ax.set_yticks([])
    ax.set_ylim(pop - 0.4, -0.6)
    ax.margins(x=0.04)
    fig.tight_layout()
    return _save(fig, _out_dir(data.run_dir, out_dir) / "family_tree.png")


def _as_paths(result: object) -> list[Path]:
    if result is None:
        return []
    if isinstance(result, (str, Path)):
        return [Path(result)]
    return [Path(p) for p in result]  # type: ignore[union-attr]


def plot_run(run_dir: str | Path, extra_plotters: Sequence[Plotter] | None = None,
             out_dir: str | Path | None = None, registered: bool = True) -> list[Path]:
    """Make every plot of a run: fitness, hyperparameters, family tree, then the registered plotters
    (:func:`register_plotter`) and ``extra_plotters``. A plot that fails is skipped with a warning.

    Returns:
        The PNG paths written (in ``run_dir`` unless ``out_dir`` is given).

    Raises:
        ConfigError: ``run_dir`` is not a run folder with metrics.
    """
    data = load_run(run_dir)
    target = _out_dir(data.run_dir, out_dir)
    builtins: list[tuple[str, Callable[[], object]]] = [
        ("fitness", lambda: plot_fitness(run_dir, target, data)),
        ("hyperparameters", lambda: plot_hyperparameters(run_dir, target, data)),
        ("family_tree", lambda: plot_family_tree(run_dir, target, data)),
    ]
    plugins = list(_REGISTERED.items()) if registered else []
    plugins += [(getattr(p, "__name__", repr(p)), p) for p in (extra_plotters or [])]
    builtins += [(name, lambda p=p: p(data.run_dir, target)) for name, p in plugins]
    written: list[Path] = []
    for name, make in builtins:
        try:
            written += _as_paths(make())
        except Exception as err:  # one broken plot must not cost the others (or the report)
            logger.warning("plot %r of %s failed: %s: %s", name, data.run_dir, type(err).__name__, err)
    return written
