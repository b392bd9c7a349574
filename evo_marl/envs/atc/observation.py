"""The per-agent observation vector (order documented in :mod:`evo_marl.envs.atc`)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from evo_marl.envs.atc.config import ATCConfig
from evo_marl.envs.atc.kinematics import KT_TO_MPS, Geometry

OWN_FEATURES = ("wp_dist", "wp_cos", "wp_sin", "airspeed", "progress_rate", "safety_rate")
NEIGHBOUR_FEATURES = ("rel_x", "rel_y", "rel_vx", "rel_vy")
POS_SCALE = 1852.0 / 20000.0  # NM -> units of 20 km
POS_CLIP = 12.0
VEL_CLIP = 5.0
TIE_BREAK_NM = 1e-9  # equal distances rank by agent index


def feature_names(cfg: ATCConfig) -> list[str]:
    """Names of the observation entries, in order."""
    per_slot = NEIGHBOUR_FEATURES + (("present",) if cfg.neighbor_present_flag else ())
    return list(OWN_FEATURES) + [f"n{k}_{f}" for k in range(cfg.neighbor_topk) for f in per_slot]


def observation_space(cfg: ATCConfig) -> spaces.Box:
    """The Box every agent observes in (finite bounds on every entry)."""
    low = [0.0, -1.0, -1.0, -10.0, -1.0, -1.0]
    high = [1.0, 1.0, 1.0, 10.0, 1.0, 1.0]
    slot_low = [-POS_CLIP, -POS_CLIP, -VEL_CLIP, -VEL_CLIP] + ([0.0] if cfg.neighbor_present_flag else [])
    slot_high = [POS_CLIP, POS_CLIP, VEL_CLIP, VEL_CLIP] + ([1.0] if cfg.neighbor_present_flag else [])
    low += slot_low * cfg.neighbor_topk
    high += slot_high * cfg.neighbor_topk
    return spaces.Box(np.asarray(low, np.float32), np.asarray(high, np.float32), dtype=np.float32)


def neighbour_order(dist: np.ndarray, k: int) -> np.ndarray:
    """``order[s, i, n]``: index j of the s-th nearest other aircraft of i, for ``s < k``.

    Ranks come from pairwise comparisons on the leading axis (``np.argsort`` along a trailing axis
    of length 2-4 costs ~10x more); ties rank by agent index.
    """
    n_agents = dist.shape[0]
    jr = np.arange(n_agents).reshape(-1, 1, 1)
    d = dist + jr * TIE_BREAK_NM
    rank = (d[:, None] < d[None]).sum(axis=0, dtype=np.int8)  # rank[j, i, n]
    slots = np.arange(k, dtype=np.int8).reshape(-1, 1, 1, 1)
    return ((rank[None] == slots) * jr.astype(np.int8)[None]).sum(axis=1, dtype=np.intp)


def build_observations(
    geo: Geometry, x: np.ndarray, y: np.ndarray, sin_h: np.ndarray, cos_h: np.ndarray, tas: np.ndarray,
    prev_wp_dist: np.ndarray, prev_nearest: np.ndarray, cfg: ATCConfig,
) -> np.ndarray:
    """Observations ``float32[A, N, obs_dim]`` (agent-major) of a batch of states ``[A, N]``.

    ``sin_h`` / ``cos_h`` are the sines and cosines of the headings.
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
        # flat index of the s-th neighbour of (i, n) in an [A, N] array: order * N + n
        flat = neighbour_order(geo.dist, k) * n_envs + np.arange(n_envs)
        per_slot = 5 if cfg.neighbor_present_flag else 4
        slots = feat[6:6 + k * per_slot].reshape(k, per_slot, n_agents, n_envs)
        scale_v = 1.0 / cfg.rel_velocity_scale_kt
        features = ((x, POS_SCALE, POS_CLIP), (y, POS_SCALE, POS_CLIP),
                    (tas * sin_h, scale_v, VEL_CLIP), (tas * cos_h, scale_v, VEL_CLIP))
        for f, (own, scale, clip) in enumerate(features):  # four feature planes, not aircraft
            rel = (own.take(flat) - own) * scale  # [k, A, N]: neighbour minus own
            slots[:, f] = np.clip(rel, -clip, clip, out=rel)
        if cfg.neighbor_present_flag:
            slots[:, 4] = 1.0
    return np.ascontiguousarray(feat.transpose(1, 2, 0))
