"""Random scenarios for training generalisation (scenario name ``random``).

Each draw places ``num_aircraft`` aircraft (2-4) in a ``box_nm`` square around the centre, all at
250 kt CAS with headings pointing at their waypoints. With probability ``conflict_probability`` the
draw is built around a conflict: a conflict point is drawn near the centre, the aircraft arrive at it
on well-spread tracks at nearly the same time (along-track jitter and a small lateral miss), and
any aircraft beyond the first two is, with probability one half, a bystander aimed 8-14 NM beside
the point. The other draws place starts and waypoints uniformly in the box. Draws whose starts are
closer than ``min_start_sep_nm``, with a leg shorter than 15 NM, or that leave the box are redrawn.
Everything is vectorised over the sub-envs being reset, and all randomness comes from the env's
generator.

:func:`predicted_conflict` tells which draws lose separation if every aircraft flies straight to its
waypoint: every conflict draw and some uniform ones; with the defaults 83 %, 88 % and 93 % of all
draws for 2, 3 and 4 aircraft.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evo_marl.envs.atc.kinematics import cpa
from evo_marl.errors import ConfigError, EnvError

MIN_LEG_NM = 15.0  # shortest start-to-waypoint leg of a draw


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings of the random-scenario generator.

    Attributes:
        num_aircraft: aircraft per env instance (2-4; fixed for the env's lifetime).
        conflict_probability: share of draws built around a conflict point.
        box_nm: side of the square that holds every start and waypoint.
        min_start_sep_nm: smallest allowed distance between two starts.
        cas_kt: initial CAS of every aircraft.
        max_episode_steps: step cap of random episodes.
    """

    num_aircraft: int = 3
    conflict_probability: float = 0.8
    box_nm: float = 50.0
    min_start_sep_nm: float = 8.0
    cas_kt: float = 250.0
    max_episode_steps: int = 100

    def __post_init__(self) -> None:
        n = self.num_aircraft
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 4:
            raise ConfigError("num_aircraft", n, "must be an integer in 2..4")
        p = self.conflict_probability
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ConfigError("conflict_probability", p, "must be a number in [0, 1]")
        for name, low in (("box_nm", 40.0), ("min_start_sep_nm", 0.0), ("cas_kt", 1e-9)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < low:
                raise ConfigError(name, v, f"must be a finite number >= {low}")
        if self.min_start_sep_nm > self.box_nm / 4:
            raise ConfigError("min_start_sep_nm", self.min_start_sep_nm, f"must be <= box_nm / 4 ({self.box_nm / 4})")
        m = self.max_episode_steps
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ConfigError("max_episode_steps", m, "must be an integer >= 1")

    @property
    def agent_ids(self) -> tuple[str, ...]:
        return tuple(f"A{i + 1}" for i in range(self.num_aircraft))


def _unit(hdg_deg: np.ndarray) -> np.ndarray:
    rad = np.radians(hdg_deg)
    return np.stack([np.sin(rad), np.cos(rad)], axis=-1)


def _conflict_draws(cfg: GeneratorConfig, n: int, rng: np.random.Generator):
    a = cfg.num_aircraft
    point = rng.uniform(-5.0, 5.0, (n, 1, 2))
    min_gap = 0.35 * 360.0 / a
    gaps = min_gap + (360.0 - a * min_gap) * rng.dirichlet(np.ones(a), size=n)
    hdg = (rng.uniform(0.0, 360.0, (n, 1)) + np.cumsum(gaps, axis=1) - gaps[:, :1]) % 360.0
    hdg = np.take_along_axis(hdg, rng.permuted(np.tile(np.arange(a), (n, 1)), axis=1), axis=1)
    u = _unit(hdg)
    normal = np.stack([u[..., 1], -u[..., 0]], axis=-1)
    before = rng.uniform(12.0, 17.0, (n, 1)) + rng.uniform(-1.5, 1.5, (n, a))
    lateral = rng.uniform(-1.5, 1.5, (n, a))
    bystander = np.zeros((n, a), bool)
    bystander[:, 2:] = rng.random((n, a - 2)) < 0.5
    lateral = np.where(bystander, rng.choice([-1.0, 1.0], (n, a)) * rng.uniform(8.0, 14.0, (n, a)), lateral)
    aim = point + normal * lateral[..., None]
    start = aim - u * before[..., None]
    waypoint = aim + u * rng.uniform(8.0, 14.0, (n, a))[..., None]
    return start, waypoint


def _uniform_draws(cfg: GeneratorConfig, n: int, rng: np.random.Generator):
    h = cfg.box_nm / 2
    start = rng.uniform(-h, h, (n, cfg.num_aircraft, 2))
    return start, rng.uniform(-h, h, (n, cfg.num_aircraft, 2))


def _valid(cfg: GeneratorConfig, start: np.ndarray, waypoint: np.ndarray) -> np.ndarray:
    h = cfg.box_nm / 2
    inside = (np.abs(start) <= h).all(axis=(1, 2)) & (np.abs(waypoint) <= h).all(axis=(1, 2))
    d = np.linalg.norm(start[:, :, None, :] - start[:, None, :, :], axis=-1)
    d[:, np.arange(cfg.num_aircraft), np.arange(cfg.num_aircraft)] = np.inf
    long_legs = (np.linalg.norm(waypoint - start, axis=-1) >= MIN_LEG_NM).all(axis=1)
    return inside & long_legs & (d.min(axis=(1, 2)) >= cfg.min_start_sep_nm)


def sample(cfg: GeneratorConfig, n: int, rng: np.random.Generator):
    """``n`` random scenarios: ``start[n, A, 2], heading[n, A], waypoint[n, A, 2], cas[n, A]``."""
    start = np.zeros((n, cfg.num_aircraft, 2))
    waypoint = np.zeros_like(start)
    todo = np.arange(n)
    conflict_draw = rng.random(n) < cfg.conflict_probability  # fixed per draw, so retries keep the share
    for _ in range(1000):
        if todo.size == 0:
            break
        conflict = conflict_draw[todo]
        s, w = _uniform_draws(cfg, todo.size, rng)
        cs, cw = _conflict_draws(cfg, todo.size, rng)
        s = np.where(conflict[:, None, None], cs, s)
        w = np.where(conflict[:, None, None], cw, w)
        ok = _valid(cfg, s, w)
        start[todo[ok]], waypoint[todo[ok]] = s[ok], w[ok]
        todo = todo[~ok]
    if todo.size:
        raise EnvError(f"random scenario generator: {todo.size} draws still invalid after 1000 tries; check {cfg}")
    delta = waypoint - start
    heading = np.degrees(np.arctan2(delta[..., 0], delta[..., 1])) % 360.0
    return start, heading, waypoint, np.full((n, cfg.num_aircraft), float(cfg.cas_kt))


def predicted_conflict(
    start: np.ndarray, waypoint: np.ndarray, tas_kt: np.ndarray | float, separation_nm: float = 5.0
) -> np.ndarray:
    """``bool[n]``: some pair comes within ``separation_nm`` when all fly straight to their waypoints.

    Each pair's closest approach is taken over the time both are still short of their waypoints.
    """
    tas = np.broadcast_to(np.asarray(tas_kt, dtype=np.float64), start.shape[:2]) / 3600.0
    leg = waypoint - start
    length = np.linalg.norm(leg, axis=-1)
    v = leg / length[..., None] * tas[..., None]
    t_end = length / tas
    r = start[:, None, :, :] - start[:, :, None, :]
    dv = v[:, None, :, :] - v[:, :, None, :]
    horizon = np.minimum(t_end[:, None, :], t_end[:, :, None])
    tcpa, _ = cpa(r[..., 0], r[..., 1], dv[..., 0], dv[..., 1], np.inf)
    t = np.clip(tcpa, 0.0, horizon)
    d = np.hypot(r[..., 0] + dv[..., 0] * t, r[..., 1] + dv[..., 1] * t)
    a = start.shape[1]
    d[:, np.arange(a), np.arange(a)] = np.inf
    return d.min(axis=(1, 2)) < separation_nm
