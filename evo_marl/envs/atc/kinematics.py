"""Vectorised aircraft kinematics and geometry on arrays shaped ``[..., num_agents]``.

Frame: x east, y north (NM); compass headings (0 = north, clockwise); ``vx = v sin(hdg)``,
``vy = v cos(hdg)``. Speeds are knots unless a name says otherwise.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from evo_marl.envs.atc.config import DynamicsConfig

KT_TO_MPS = 1852.0 / 3600.0
NO_NEIGHBOUR_NM = 200.0  # nearest-neighbour distance reported when an aircraft is alone


DEG = np.pi / 180.0


def wrap360(angle_deg: np.ndarray) -> np.ndarray:
    """Angles wrapped to [0, 360) (``floor`` rather than ``%``: several times faster in NumPy)."""
    return angle_deg - 360.0 * np.floor(angle_deg * (1.0 / 360.0))


def wrap180(angle_deg: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-180, 180)."""
    return angle_deg - 360.0 * np.floor((angle_deg + 180.0) * (1.0 / 360.0))


def bearing_deg(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Compass bearing of the vector (dx east, dy north), in [0, 360)."""
    return wrap360(np.degrees(np.arctan2(dx, dy)))


def velocity_nm_s(hdg_deg: np.ndarray, tas_kt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """East and north velocity in NM/s."""
    rad = np.radians(hdg_deg)
    speed = tas_kt / 3600.0
    return speed * np.sin(rad), speed * np.cos(rad)


def cpa(
    rx: np.ndarray, ry: np.ndarray, vx: np.ndarray, vy: np.ndarray, horizon_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Closest approach of a relative track (position r NM, velocity v NM/s).

    Returns ``tcpa`` (unclipped, s; 0 where the relative velocity vanishes) and ``dcpa`` (NM) with
    ``tcpa`` clipped to ``[0, horizon_s]`` as in the spec.
    """
    vv = vx * vx + vy * vy
    moving = vv > 1e-12
    tcpa = np.where(moving, -(rx * vx + ry * vy) / np.where(moving, vv, 1.0), 0.0)
    t = np.clip(tcpa, 0.0, horizon_s)
    return tcpa, np.hypot(rx + vx * t, ry + vy * t)


def integrate(
    x: np.ndarray, y: np.ndarray, hdg: np.ndarray, cas: np.ndarray,
    cmd_hdg: np.ndarray, cmd_cas: np.ndarray, dyn: DynamicsConfig, substeps: int,
) -> np.ndarray:
    """Fly ``substeps`` sub-steps in place (BlueSky order: speed, then heading, then position).

    Each sub-step moves CAS toward ``cmd_cas`` by at most ``cas_rate_kt_s * dt``, then the heading
    toward ``cmd_hdg`` (shorter way round) by at most the standard-rate ``g tan(bank) / TAS`` at
    the new speed, then the position with the new velocity. The position update uses float32
    trigonometry (SIMD, ~20x faster than float64 here; its error, below 1e-6 NM per step, is far
    under anything the reward can see) accumulated in float64.

    Returns:
        the path length flown by each aircraft, NM.
    """
    dt = dyn.substep_s
    # standard-rate turn g tan(bank) / TAS, in degrees per sub-step, as a constant over CAS
    turn_const = np.degrees(dyn.gravity_mps2 * np.tan(np.radians(dyn.bank_angle_deg))) * dt
    turn_const /= KT_TO_MPS * dyn.cas_to_tas
    nm_per_kt = dyn.cas_to_tas * dt / 3600.0
    dv, dh = cmd_cas - cas, wrap180(cmd_hdg - hdg)
    sign_v, left_v, sign_h, left_h = np.sign(dv), np.abs(dv), np.sign(dh), np.abs(dh)
    path = np.zeros_like(x)
    step, dist = np.empty_like(x), np.empty_like(x)  # work arrays reused by every sub-step (no allocations)
    rad, trig = np.empty(x.shape, np.float32), np.empty(x.shape, np.float32)
    for _ in range(substeps):
        np.minimum(left_v, dyn.cas_rate_kt_s * dt, out=step)  # speed
        left_v -= step
        step *= sign_v
        cas += step
        np.divide(turn_const, cas, out=step)  # heading, at the rate of the new speed
        np.minimum(left_h, step, out=step)
        left_h -= step
        step *= sign_h
        hdg += step
        np.multiply(hdg, DEG, out=rad, casting="same_kind")  # position
        np.multiply(cas, nm_per_kt, out=dist)
        path += dist
        np.sin(rad, out=trig)
        np.multiply(dist, trig, out=step)
        x += step
        np.cos(rad, out=trig)
        np.multiply(dist, trig, out=step)
        y += step
    np.copyto(cas, cmd_cas, where=left_v == 0.0)  # exactly on the command once reached
    hdg[...] = np.where(left_h == 0.0, cmd_hdg, wrap360(hdg))
    return path


class Geometry(NamedTuple):
    """Distances of a batch of states, agent-major: ``dx[j, i, n]`` = x of j minus x of i (NM)."""

    dx: np.ndarray
    dy: np.ndarray
    dist: np.ndarray  # [A, A, N], +inf on the diagonal
    nearest: np.ndarray  # [A, N], NO_NEIGHBOUR_NM where alone
    global_min: np.ndarray  # [N], +inf with fewer than two aircraft
    wp_dx: np.ndarray  # [A, N]
    wp_dy: np.ndarray
    wp_dist: np.ndarray


def geometry(x: np.ndarray, y: np.ndarray, wp_x: np.ndarray, wp_y: np.ndarray,
             present: np.ndarray | None = None) -> Geometry:
    """Pairwise and waypoint distances of states given agent-major, ``[A, N]``.

    ``present`` (bool ``[A, N]``) marks the aircraft that exist in each sub-env (padded traffic): pairs
    with an absent aircraft are at distance ``+inf``; an aircraft with no other present aircraft has
    ``nearest = NO_NEIGHBOUR_NM``. Agent-major layout keeps every reduction over aircraft on the leading
    axis, where NumPy reduces whole rows at once (a reduction over a trailing axis of length 4 is ~50x slower).
    """
    dx = x[:, None, :] - x[None, :, :]
    dy = y[:, None, :] - y[None, :, :]
    dist = np.sqrt(dx * dx + dy * dy)
    n_agents = x.shape[0]
    dist[np.arange(n_agents), np.arange(n_agents)] = np.inf
    if present is not None:
        np.copyto(dist, np.inf, where=~(present[:, None, :] & present[None, :, :]))
    if n_agents > 1:
        nearest = dist.min(axis=0)
        global_min = nearest.min(axis=0)
        if present is not None:
            nearest[np.isinf(nearest)] = NO_NEIGHBOUR_NM
    else:
        nearest = np.full(x.shape, NO_NEIGHBOUR_NM)
        global_min = np.full(x.shape[1], np.inf)
    wp_dx, wp_dy = wp_x - x, wp_y - y
    return Geometry(dx, dy, dist, nearest, global_min, wp_dx, wp_dy, np.sqrt(wp_dx * wp_dx + wp_dy * wp_dy))
