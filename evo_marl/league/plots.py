"""League pictures: rating curves from ``league.csv`` and the cross-play heatmap."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def read_league_csv(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "league.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_ratings(run_dir: str | Path, path: str | Path | None = None, value: str = "mu") -> Path | None:
    """Rating (``mu`` with a ``± sigma`` band) of every league member per generation: ``ratings.png``.

    A clone's curve starts from its parent's last point; scripted members are dashed. None without ``league.csv``.
    """
    import matplotlib

    matplotlib.use(matplotlib.get_backend())
    import matplotlib.pyplot as plt

    rows = read_league_csv(run_dir)
    if not rows:
        return None
    series: dict[str, list[tuple[int, float, float]]] = {}
    kinds, parents = {}, {}
    for r in rows:
        series.setdefault(r["member"], []).append((int(r["generation"]), float(r[value]), float(r["sigma"])))
        kinds[r["member"]], parents[r["member"]] = r["kind"], r["parent"] or None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, points in series.items():
        points.sort()
        parent = parents.get(key)
        if parent in series:
            before = [p for p in series[parent] if p[0] < points[0][0]]
            if before:
                points = [before[-1], *points]
        g, mu, sd = (np.array(x) for x in zip(*points))
        scripted = kinds[key] == "scripted"
        line, = ax.plot(g, mu, "--" if scripted else "-", lw=2 if scripted else 1, label=key if scripted else None)
        ax.fill_between(g, mu - sd, mu + sd, color=line.get_color(), alpha=0.08)
    ax.set_xlabel("generation")
    ax.set_ylabel(f"openskill {value} (band: ± sigma)")
    ax.set_title("League ratings (solid: learned members, dashed: scripted)")
    if any(k == "scripted" for k in kinds.values()):
        ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    out = Path(path) if path else Path(run_dir) / "ratings.png"
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_heatmap(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], path: str | Path,
                 title: str = "Cross-play: team reward per night", ci: np.ndarray | None = None) -> Path:
    """A heatmap of ``matrix`` ``[len(rows), len(cols)]`` with the value (± CI half-width) in every cell."""
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix, float)
    fig, ax = plt.subplots(figsize=(1.1 * len(cols) + 2.5, 0.45 * len(rows) + 1.8))
    finite = matrix[np.isfinite(matrix)]
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0, 1)
    im = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            v = matrix[i, j]
            if not math.isfinite(v):
                continue
            text = f"{v:.0f}" if ci is None else f"{v:.0f}\n±{ci[i, j]:.0f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if v < vmin + 0.6 * (vmax - vmin) else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("teammates")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_league_run(run_dir: str | Path) -> list[Path]:
    """The league pictures of a finished run (a failing plot is logged, never raised)."""
    try:
        out = plot_ratings(run_dir)
        return [out] if out else []
    except Exception as err:
        logger.warning("league plots of %s failed: %s: %s", run_dir, type(err).__name__, err)
        return []
