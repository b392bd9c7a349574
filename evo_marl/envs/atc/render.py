"""Matplotlib (Agg) drawings: live frames of a sub-env and plots of recorded episodes.

Matplotlib is imported here only, lazily, and only through its object API (``Figure`` with an Agg
canvas): no pyplot state, no GUI backend, safe in worker threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evo_marl.run_folder import atomic_file

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from evo_marl.envs.atc.simulator import ATCSimulator
    from evo_marl.envs.atc.tracks import Tracks

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def _figure(size_in: tuple[float, float], dpi: int) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size_in, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _sectors(sim: ATCSimulator, points: np.ndarray) -> list[np.ndarray]:
    sectors = list(getattr(sim.scenario, "sectors", ()) or ())
    if sectors:
        scale = sim.cfg.dynamics.geometry_scale
        return [s * scale for s in sectors]
    if getattr(sim.scenario, "box_nm", None):  # random traffic: the generator's box
        h = sim.scenario.box_nm / 2 * sim.cfg.dynamics.geometry_scale
    else:
        h = float(np.ceil(np.abs(points).max() / 5.0) * 5.0 + 5.0)
    return [np.array([[-h, -h], [h, -h], [h, h], [-h, h]])]


def _circle(ax: Any, x: float, y: float, radius: float, colour: str, alpha: float = 0.35) -> None:
    from matplotlib.patches import Circle

    ax.add_patch(Circle((x, y), radius, fill=False, linestyle="--", linewidth=1.0, edgecolor=colour, alpha=alpha))


def render_frame(sim: ATCSimulator, env_index: int = 0, size_px: int = 480) -> np.ndarray:
    """An RGB ``uint8[size_px, size_px, 3]`` picture of one sub-env: sectors, aircraft with heading
    arrows, waypoints, and a 5-NM circle around each aircraft (red while in loss of separation)."""
    full = sim.state_arrays(env_index)
    keep = np.flatnonzero(full["present"])  # padded traffic: absent aircraft are not drawn
    s = {k: v[keep] for k, v in full.items()}
    agent_ids = [sim.possible_agents[i] for i in keep]
    sep = sim.cfg.reward.separation_nm
    pos = np.stack([s["x"], s["y"]], axis=1)
    wps = np.stack([s["wp_x"], s["wp_y"]], axis=1)
    fig = _figure((size_px / 100, size_px / 100), 100)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.92))
    for poly in _sectors(sim, np.concatenate([pos, wps])):
        closed = np.vstack([poly, poly[:1]])
        ax.fill(closed[:, 0], closed[:, 1], color="0.94", zorder=0)
        ax.plot(closed[:, 0], closed[:, 1], color="0.6", linewidth=1.0)
    d = np.hypot(pos[:, None, 0] - pos[None, :, 0], pos[:, None, 1] - pos[None, :, 1])
    np.fill_diagonal(d, np.inf)
    in_los = d.min(axis=1) < sep if len(pos) > 1 else np.zeros(len(pos), bool)
    rad = np.radians(s["hdg"])
    for i, aid in enumerate(agent_ids):
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(*wps[i], marker="x", markersize=9, markeredgewidth=2, color=colour)
        ax.plot([pos[i, 0], wps[i, 0]], [pos[i, 1], wps[i, 1]], color=colour, linewidth=0.6, alpha=0.4, linestyle=":")
        ax.arrow(pos[i, 0], pos[i, 1], 3 * np.sin(rad[i]), 3 * np.cos(rad[i]), width=0.35, color=colour,
                 length_includes_head=True)
        _circle(ax, pos[i, 0], pos[i, 1], sep, "red" if in_los[i] else colour, 0.9 if in_los[i] else 0.35)
        ax.annotate(aid + (" ✓" if s["reached"][i] else ""), pos[i], textcoords="offset points", xytext=(6, 6),
                    fontsize=8, color=colour)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{sim.scenario.name}  step {int(sim.t[env_index])}", fontsize=9)
    fig.canvas.draw()
    frame = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    return frame


def plot_trajectories(tracks: Tracks, path: str | Path | None = None, title: str | None = None) -> Figure:
    """Tracks, starts, waypoints and the 5-NM circles of the closest pair at its closest approach.

    Args:
        tracks: a recorded episode (:func:`~evo_marl.envs.atc.tracks.record_episode`).
        path: also save the figure there (PNG by default, any Matplotlib format by suffix).
        title: figure title (default: scenario, return and minimum separation).
    """
    fig = _figure((6.4, 6.4), 100)
    ax = fig.add_subplot(1, 1, 1)
    n = len(tracks.agent_ids)
    for i, aid in enumerate(tracks.agent_ids):
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(tracks.x[:, i], tracks.y[:, i], color=colour, linewidth=1.6, label=aid)
        ax.plot(tracks.x[0, i], tracks.y[0, i], marker="o", color=colour)
        ax.plot(*tracks.waypoint[i], marker="x", markersize=10, markeredgewidth=2, color=colour)
    subtitle = ""
    if n > 1:
        t, i, j, dist = tracks.closest_approach()
        for k in (i, j):
            colour = "red" if dist < tracks.separation_nm else COLOURS[k % len(COLOURS)]
            _circle(ax, tracks.x[t, k], tracks.y[t, k], tracks.separation_nm, colour, 0.9)
            ax.plot(tracks.x[t, k], tracks.y[t, k], marker="s", color=colour, markersize=5)
        ax.plot(tracks.x[t, [i, j]], tracks.y[t, [i, j]], color="red", linewidth=0.8)
        subtitle = f"min sep {dist:.2f} NM ({tracks.agent_ids[i]}-{tracks.agent_ids[j]}, step {t})"
    ret = float(tracks.rewards.sum()) if tracks.rewards.size else 0.0
    ax.set_title(title or f"{tracks.scenario}: return {ret:.2f}, {subtitle}", fontsize=9)
    pts = np.concatenate([np.stack([tracks.x.ravel(), tracks.y.ravel()], axis=1), tracks.waypoint])
    centre, half = (pts.max(0) + pts.min(0)) / 2, (pts.max(0) - pts.min(0)).max() / 2 + tracks.separation_nm + 1.0
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_xlabel("x east (NM)")
    ax.set_ylabel("y north (NM)")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if path is not None:
        path = Path(path)
        with atomic_file(path, "wb") as f:
            fig.savefig(f, format=path.suffix.lstrip(".") or "png")
    return fig
