"""The per-agent observation vector (order documented in :mod:`evo_marl.envs.atc`).

Neighbour slots hold the ``K = neighbor_topk`` other aircraft that matter most: the nearest ones
(``neighbor_order="distance"``, the spec's default) or the most urgent ones (``"threat"``: aircraft
predicted to lose separation with us within ``cpa_horizon_s`` at constant velocity, soonest first,
then the rest by distance). ``neighbor_cpa=True`` adds the closest-point-of-approach numbers of each
slot; ``neighbor_present_flag=True`` a 0/1 "slot filled" entry; ``neighbor_reached_flag=True`` a 0/1 "this aircraft
is at its waypoint (flies straight on, will not manoeuvre)" entry; ``neighbor_frame="heading"`` gives relative
positions and velocities to the right of and ahead of our heading instead of east and north. Slots without
an aircraft (fewer than ``K`` others, or absent aircraft of padded traffic) are zeros; absent agents
observe zeros.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from evo_marl.envs.atc.config import ATCConfig
from evo_marl.envs.atc.kinematics import KT_TO_MPS, Geometry

OWN_FEATURES = ("wp_dist", "wp_cos", "wp_sin", "airspeed", "progress_rate", "safety_rate")
NEIGHBOUR_FEATURES = ("rel_x", "rel_y", "rel_vx", "rel_vy")
CPA_FEATURES = ("t_los", "tcpa", "dcpa")
POS_SCALE = 1852.0 / 20000.0  # NM -> units of 20 km
POS_CLIP = 12.0
VEL_CLIP = 5.0
DCPA_CLIP = 4.0  # dcpa in units of the separation minimum
TIE_BREAK_NM = 1e-9  # equal distances rank by agent index
FAR = 1e6  # rank key of "no aircraft" (absent neighbours, oneself)


def slot_features(cfg: ATCConfig) -> tuple[str, ...]:
    """Names of one neighbour slot's entries, in order."""
    return NEIGHBOUR_FEATURES + (("present",) if cfg.neighbor_present_flag else ()) + \
        (("reached",) if cfg.neighbor_reached_flag else ()) + (CPA_FEATURES if cfg.neighbor_cpa else ())


def feature_names(cfg: ATCConfig) -> list[str]:
    """Names of the observation entries, in order."""
    return list(OWN_FEATURES) + [f"n{k}_{f}" for k in range(cfg.neighbor_topk) for f in slot_features(cfg)]


def observation_space(cfg: ATCConfig) -> spaces.Box:
    """The Box every agent observes in (finite bounds on every entry)."""
    low = [0.0, -1.0, -1.0, -10.0, -1.0, -1.0]
    high = [1.0, 1.0, 1.0, 10.0, 1.0, 1.0]
    bounds = {"rel_x": POS_CLIP, "rel_y": POS_CLIP, "rel_vx": VEL_CLIP, "rel_vy": VEL_CLIP}
    for name in slot_features(cfg) * cfg.neighbor_topk:
        low.append(-bounds[name] if name in bounds else 0.0)
        high.append(bounds.get(name, DCPA_CLIP if name == "dcpa" else 1.0))
    return spaces.Box(np.asarray(low, np.float32), np.asarray(high, np.float32), dtype=np.float32)


def neighbour_order(key: np.ndarray, k: int) -> np.ndarray:
    """``order[s, i, n]``: index j of the s-th smallest ``key[j, i, n]`` over j, for ``s < k``.

    Ranks come from pairwise comparisons on the leading axis (``np.argsort`` along a trailing axis
    of length 2-8 costs several times more); ties rank by agent index; non-finite keys rank last.
    """
    n_agents = key.shape[0]
    jr = np.arange(n_agents).reshape(-1, 1, 1)
    d = np.where(np.isfinite(key), key, FAR) + jr * TIE_BREAK_NM
    rank = (d[:, None] < d[None]).sum(axis=0, dtype=np.int8)  # rank[j, i, n]
    slots = np.arange(k, dtype=np.int8).reshape(-1, 1, 1, 1)
    return ((rank[None] == slots) * jr.astype(np.int8)[None]).sum(axis=1, dtype=np.intp)


def pair_cpa(geo: Geometry, vx: np.ndarray, vy: np.ndarray, horizon_s: float, sep_nm: float):
    """Time to loss of separation, tcpa and dcpa of every pair ``[j, i, N]`` at constant velocity.

    ``vx``, ``vy`` in NM/s, agent-major. ``t_los`` is 0 inside the separation minimum and ``inf`` when no
    loss of separation is predicted within ``horizon_s``; ``tcpa`` is clipped to ``[0, horizon_s]`` and
    ``dcpa`` is the distance then. Pairs at infinite distance (oneself, absent aircraft) get ``inf``.
    """
    rvx, rvy = vx[:, None, :] - vx[None, :, :], vy[:, None, :] - vy[None, :, :]
    vv = rvx * rvx + rvy * rvy
    rv = geo.dx * rvx + geo.dy * rvy
    tcpa = np.clip(-rv / np.maximum(vv, 1e-15), 0.0, horizon_s)
    dcpa = np.hypot(geo.dx + rvx * tcpa, geo.dy + rvy * tcpa)
    c = geo.dx * geo.dx + geo.dy * geo.dy - sep_nm * sep_nm  # finite even where dist is masked to inf
    disc = rv * rv - vv * c
    root = (-rv - np.sqrt(np.maximum(disc, 0.0))) / np.maximum(vv, 1e-15)
    ok = (disc >= 0.0) & (vv > 1e-15) & (root >= 0.0) & (root <= horizon_s)
    t_los = np.where(c <= 0.0, 0.0, np.where(ok, root, np.inf))
    far = ~np.isfinite(geo.dist)
    return np.where(far, np.inf, t_los), np.where(far, np.inf, tcpa), np.where(far, np.inf, dcpa)


def slot_key(geo: Geometry, cpa: tuple[np.ndarray, ...] | None, cfg: ATCConfig) -> np.ndarray:
    """``key[j, i, N]``: neighbour j of aircraft i fills an earlier slot the smaller its key.

    ``distance``: the distance. ``threat``: aircraft predicted to lose separation with i within the
    horizon (``cpa`` from :func:`pair_cpa`) come first, soonest first, then the others by distance.
    """
    if cfg.neighbor_order == "threat":
        return np.where(np.isfinite(cpa[0]), cpa[0] - 2.0 * cfg.cpa_horizon_s, geo.dist)
    return geo.dist


def build_observations(
    geo: Geometry, x: np.ndarray, y: np.ndarray, sin_h: np.ndarray, cos_h: np.ndarray, tas: np.ndarray,
    prev_wp_dist: np.ndarray, prev_nearest: np.ndarray, cfg: ATCConfig, present: np.ndarray | None = None,
    reached: np.ndarray | None = None,
) -> np.ndarray:
    """Observations ``float32[A, N, obs_dim]`` (agent-major) of a batch of states ``[A, N]``.

    ``sin_h`` / ``cos_h`` are the sines and cosines of the headings; ``present`` marks the aircraft
    that exist (padded traffic; ``None``: all); ``reached`` those at their waypoint (read only with
    ``neighbor_reached_flag``; ``None``: none).
    """
    n_agents, n_envs = tas.shape
    feat = np.zeros((cfg.obs_dim, n_agents, n_envs), np.float32)  # feature-major: contiguous row writes
    inv = 1.0 / np.maximum(geo.wp_dist, 1e-9)
    ux, uy = geo.wp_dx * inv, geo.wp_dy * inv  # unit vector toward the waypoint
    feat[0] = np.tanh((geo.wp_dist * (1.0 / 20.0)).astype(np.float32))
    feat[1] = ux * sin_h + uy * cos_h  # cos(bearing - heading)
    feat[2] = ux * cos_h - uy * sin_h  # sin(bearing - heading)
    np.clip(feat[1:3], -1.0, 1.0, out=feat[1:3])  # rounding could step past +-1 (outside the Box)
    feat[3] = np.clip((tas * KT_TO_MPS - 150.0) * (1.0 / 6.0), -10.0, 10.0)
    feat[4] = np.tanh(((prev_wp_dist - geo.wp_dist) * 0.5).astype(np.float32))
    feat[5] = np.tanh(((geo.nearest - prev_nearest) * 0.2).astype(np.float32))
    k = min(cfg.neighbor_topk, n_agents - 1)
    if k > 0:
        _neighbour_slots(feat, geo, x, y, sin_h, cos_h, tas, cfg, k, present is not None, reached)
    if present is not None:
        feat *= present  # absent agents observe zeros
    return np.ascontiguousarray(feat.transpose(1, 2, 0))


def _neighbour_slots(feat, geo, x, y, sin_h, cos_h, tas, cfg: ATCConfig, k: int, padded: bool,
                     reached: np.ndarray | None) -> None:
    n_agents, n_envs = tas.shape
    vx, vy = tas * sin_h, tas * cos_h  # kt
    cpa = None
    if cfg.neighbor_cpa or cfg.neighbor_order == "threat":
        cpa = pair_cpa(geo, vx * (1.0 / 3600.0), vy * (1.0 / 3600.0), cfg.cpa_horizon_s, cfg.cpa_separation_nm)
    order = neighbour_order(slot_key(geo, cpa, cfg), k)
    flat = order * n_envs + np.arange(n_envs)  # flat index of the s-th neighbour of (i, n) in an [A, N] array
    per_slot = len(slot_features(cfg))
    slots = feat[6:6 + k * per_slot].reshape(k, per_slot, n_agents, n_envs)
    scale_v = 1.0 / cfg.rel_velocity_scale_kt
    for f, (px, py, scale, clip) in enumerate(((x, y, POS_SCALE, POS_CLIP), (vx, vy, scale_v, VEL_CLIP))):
        east, north = px.take(flat) - px, py.take(flat) - py  # [k, A, N]: neighbour minus own
        if cfg.neighbor_frame == "heading":  # (right of our heading, ahead of it)
            east, north = east * cos_h - north * sin_h, east * sin_h + north * cos_h
        for c, rel in enumerate((east, north)):  # two feature planes each, not aircraft
            rel *= scale
            slots[:, 2 * f + c] = np.clip(rel, -clip, clip, out=rel)
    filled = np.isfinite(_pick(geo.dist, order)) if padded else None  # slots of absent aircraft stay empty
    col = 4
    if cfg.neighbor_present_flag:
        slots[:, col] = 1.0
        col += 1
    if cfg.neighbor_reached_flag:
        slots[:, col] = 0.0 if reached is None else reached.take(flat)
        col += 1
    if cfg.neighbor_cpa:
        t_los, tcpa, dcpa = (_pick(v, order) for v in cpa)
        h = cfg.cpa_horizon_s
        slots[:, col] = np.where(np.isfinite(t_los), t_los * (1.0 / h), 1.0)
        slots[:, col + 1] = np.minimum(tcpa, h) * (1.0 / h)
        slots[:, col + 2] = np.minimum(dcpa * (1.0 / cfg.cpa_separation_nm), DCPA_CLIP)
    if filled is not None:
        slots *= filled[:, None]


def _pick(pairwise: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``pairwise[order[s, i, n], i, n]`` for every slot s: ``[k, A, N]``."""
    n_agents, n_envs = pairwise.shape[1], pairwise.shape[2]
    i = np.arange(n_agents).reshape(1, -1, 1)
    n = np.arange(n_envs).reshape(1, 1, -1)
    return pairwise[order, i, n]
