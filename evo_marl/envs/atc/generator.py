"""Random traffic for training and testing generalisation (scenario name ``random``).

A draw holds ``num_aircraft`` aircraft (2-8; a fixed count or a ``[low, high]`` range drawn per
episode). Aircraft are dealt into *clusters* of ``cluster_size`` aircraft (the last one may be
smaller). With probability ``conflict_probability`` a cluster of two or more is built around a
conflict: a conflict point is drawn within ``conflict_spread_nm`` of the centre and every member
arrives there ``time_to_conflict_s`` after the start (one time per cluster, plus a per-aircraft
``arrival_spread_s`` jitter) with a lateral miss drawn from ``miss_distance_nm``. The members' tracks,
sorted around the compass, differ by ``crossing_angle_deg`` from one to the next (the spread of a big
cluster is capped so that it fits in 360 degrees). With probability ``merge_probability`` a conflict
cluster *merges*: every member's waypoint is the conflict point itself, otherwise the waypoint lies
8-14 NM beyond it. Other clusters and single aircraft get a start and a waypoint uniformly in the
``box_nm`` square. Initial CAS is ``cas_kt`` (a number, or a ``[low, high]`` range per aircraft: a
speed mix); headings point at the waypoints.

A draw is redrawn until it is *fair*: every start and waypoint lies in the box, starts are at least
``min_start_sep_nm`` apart, every leg is at least ``min_leg_nm`` long, and if all fly straight no pair
loses separation sooner than ``min_time_to_los_s`` (a conflict nobody can resolve is no test of a
controller: two aircraft turning away at the standard rate need about 30 s of warning).

The aircraft of a draw are dealt to the agent slots ``A1..A<count>`` in random order; slots beyond the
count are *absent* (``present`` is False) when the count varies. Everything is vectorised over the
draws, and all randomness comes from the generator passed in.

With the defaults (3 aircraft, conflict probability 0.8), :func:`predicted_conflict` finds a loss of
separation under straight flight in 85 % of draws (87 % at 2 aircraft, 91 % at 4, 99 % at 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from evo_marl.envs.atc.kinematics import cpa
from evo_marl.errors import ConfigError, EnvError

MAX_AIRCRAFT = 8
MAX_TRIES = 1000
MAX_CANDIDATES = 4096  # candidate draws evaluated at once
#: candidates drawn per wanted draw of each aircraft count on the first try (about 1 / acceptance rate
#: with the default settings, where 8 aircraft pass the fairness rules in 1.5 % of draws)
REPS = np.array([1, 1, 1, 2, 2, 4, 8, 24, 64])
TAS_PER_CAS = 1.1548  # TAS / CAS at 10,000 ft (DynamicsConfig.cas_to_tas), used to place aircraft in time


def _range(name: str, value: Any, low: float, high: float, integer: bool = False) -> tuple[float, float]:
    """A number or a ``[low, high]`` pair as a checked ``(low, high)`` tuple."""
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    kind = "integer" if integer else "number"
    ok = len(pair) == 2 and all(
        not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and low <= v <= high
        and (not integer or float(v).is_integer()) for v in pair)
    if not ok or pair[0] > pair[1]:
        raise ConfigError(name, value, f"must be a{'n' if integer else ''} {kind} or a [low, high] pair of {kind}s "
                                       f"in {low}..{high} with low <= high")
    return (int(pair[0]), int(pair[1])) if integer else (float(pair[0]), float(pair[1]))


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings of the random-traffic generator (see the module docstring for what each does).

    Pairs are ``(low, high)`` ranges drawn uniformly; a single number means a fixed value.

    Attributes:
        num_aircraft: aircraft per episode, 2-8 (a range varies the count per episode; the env then has
            ``high`` agent slots and masks the absent ones).
        conflict_probability: share of clusters built around a conflict point.
        cluster_size: aircraft per cluster (one conflict point each), 2-8.
        crossing_angle_deg: angle between neighbouring tracks of a conflict cluster, in 0..180 degrees.
        time_to_conflict_s: flight time from the start to the conflict point.
        arrival_spread_s: each member's arrival time is jittered by up to this many seconds.
        miss_distance_nm: lateral offset of each member's track from the conflict point (a random side).
        merge_probability: share of conflict clusters whose waypoints are the conflict point.
        conflict_spread_nm: conflict points lie in a square of this half-width around the centre.
        cas_kt: initial CAS of each aircraft (a range gives a speed mix).
        min_time_to_los_s: earliest loss of separation allowed under straight flight.
        box_nm: side of the square that holds every start and waypoint.
        min_start_sep_nm: smallest distance between two starts. min_leg_nm: shortest start-to-waypoint leg.
        max_episode_steps: step cap of random episodes.
    """

    num_aircraft: int | tuple[int, int] = 3
    conflict_probability: float = 0.8
    cluster_size: int | tuple[int, int] = (2, 4)
    crossing_angle_deg: float | tuple[float, float] = (20.0, 180.0)
    time_to_conflict_s: float | tuple[float, float] = (150.0, 210.0)
    arrival_spread_s: float = 20.0
    miss_distance_nm: float | tuple[float, float] = (0.0, 1.5)
    merge_probability: float = 0.0
    conflict_spread_nm: float = 5.0
    cas_kt: float | tuple[float, float] = 250.0
    min_time_to_los_s: float = 60.0
    box_nm: float = 50.0
    min_start_sep_nm: float = 8.0
    min_leg_nm: float = 15.0
    max_episode_steps: int = 100

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen dataclass
        set_("num_aircraft", _range("num_aircraft", self.num_aircraft, 2, MAX_AIRCRAFT, integer=True))
        set_("cluster_size", _range("cluster_size", self.cluster_size, 2, MAX_AIRCRAFT, integer=True))
        set_("crossing_angle_deg", _range("crossing_angle_deg", self.crossing_angle_deg, 0.0, 180.0))
        set_("time_to_conflict_s", _range("time_to_conflict_s", self.time_to_conflict_s, 1.0, 1e5))
        set_("miss_distance_nm", _range("miss_distance_nm", self.miss_distance_nm, 0.0, 1e3))
        set_("cas_kt", _range("cas_kt", self.cas_kt, 100.0, 400.0))
        for name in ("conflict_probability", "merge_probability"):
            _range(name, getattr(self, name), 0.0, 1.0)
        for name, low, high in (("arrival_spread_s", 0.0, 1e4), ("conflict_spread_nm", 0.0, 1e3),
                                ("min_time_to_los_s", 0.0, 1e4), ("box_nm", 40.0, 1e4),
                                ("min_start_sep_nm", 0.0, 1e3), ("min_leg_nm", 1.0, 1e3)):
            _range(name, getattr(self, name), low, high)
        if self.min_start_sep_nm > self.box_nm / 4:
            raise ConfigError("min_start_sep_nm", self.min_start_sep_nm, f"must be <= box_nm / 4 ({self.box_nm / 4})")
        m = self.max_episode_steps
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ConfigError("max_episode_steps", m, "must be an integer >= 1")

    @property
    def max_aircraft(self) -> int:
        return self.num_aircraft[1]

    @property
    def agent_ids(self) -> tuple[str, ...]:
        return tuple(f"A{i + 1}" for i in range(self.max_aircraft))

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


class Traffic(NamedTuple):
    """``n`` draws padded to ``A`` slots: ``start[n, A, 2]``, ``heading[n, A]`` (deg), ``waypoint[n, A, 2]``,
    ``cas[n, A]`` (kt) and ``present[n, A]`` (absent slots hold finite dummy values)."""

    start: np.ndarray
    heading: np.ndarray
    waypoint: np.ndarray
    cas: np.ndarray
    present: np.ndarray


def absent_positions(first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and waypoint ``[end - first, 2]`` of absent slots ``first..end-1``: finite dummies far outside
    any box and apart from each other, so they are never near anything."""
    far = (np.arange(first, end) + 1.0) * 1e4
    return np.stack([far, far], -1), np.stack([far, far + 20.0], -1)


def pad_traffic(t: Traffic, slots: int) -> Traffic:
    """``t`` with absent slots appended up to ``slots``."""
    n, a = t.present.shape
    if a == slots:
        return t
    far_start, far_wp = absent_positions(a, slots)
    grow = lambda v, extra: np.concatenate([v, np.broadcast_to(extra, (n, *extra.shape))], axis=1)  # noqa: E731
    return Traffic(grow(t.start, far_start), grow(t.heading, np.zeros(slots - a)), grow(t.waypoint, far_wp),
                   grow(t.cas, np.full(slots - a, 250.0)), grow(t.present, np.zeros(slots - a, bool)))


def _unit(hdg_deg: np.ndarray) -> np.ndarray:
    rad = np.radians(hdg_deg)
    return np.stack([np.sin(rad), np.cos(rad)], axis=-1)


def _clusters(cfg: GeneratorConfig, count: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cluster id of every slot ``[n, A]`` and each slot's rank inside its cluster (slots in order)."""
    n, a = count.shape[0], cfg.max_aircraft
    cid, rank = np.zeros((n, a), np.intp), np.zeros((n, a), np.intp)
    left = rng.integers(cfg.cluster_size[0], cfg.cluster_size[1] + 1, n)
    for s in range(1, a):  # a loop over <= 8 slots, vectorised over draws
        new = rank[:, s - 1] + 1 >= left
        left = np.where(new, rng.integers(cfg.cluster_size[0], cfg.cluster_size[1] + 1, n), left)
        cid[:, s] = cid[:, s - 1] + new
        rank[:, s] = np.where(new, 0, rank[:, s - 1] + 1)
    return cid, rank


def _per_cluster(values: np.ndarray, cid: np.ndarray) -> np.ndarray:
    """``values[n, A(clusters), ...]`` looked up for every slot's cluster."""
    idx = cid.reshape(cid.shape + (1,) * (values.ndim - 2))
    return np.take_along_axis(values, np.broadcast_to(idx, cid.shape + values.shape[2:]), axis=1)


def _draw(cfg: GeneratorConfig, count: np.ndarray, rng: np.random.Generator) -> Traffic:
    n, a = count.shape[0], cfg.max_aircraft
    present = np.arange(a) < count[:, None]
    cid, rank = _clusters(cfg, count, rng)
    size = np.zeros((n, a), np.intp)  # members of each cluster that are present
    np.add.at(size, (np.repeat(np.arange(n), a), cid.reshape(-1)), present.reshape(-1))
    members = _per_cluster(size, cid)
    conflict = _per_cluster(rng.random((n, a)) < cfg.conflict_probability, cid) & (members >= 2)
    merge = _per_cluster(rng.random((n, a)) < cfg.merge_probability, cid)
    cas = rng.uniform(*cfg.cas_kt, (n, a))
    # conflict clusters: tracks sorted around the compass, neighbouring tracks crossing_angle apart
    lo, hi = cfg.crossing_angle_deg
    cap = np.where(members >= 2, (360.0 - lo) / np.maximum(members - 1, 1), 180.0)
    gaps = np.where(rank > 0, rng.uniform(lo, np.maximum(np.minimum(hi, cap), lo)), 0.0)
    cum = np.zeros((n, a))
    for s in range(1, a):  # running sum of gaps inside each cluster
        cum[:, s] = np.where(rank[:, s] > 0, cum[:, s - 1] + gaps[:, s], 0.0)
    hdg = (_per_cluster(rng.uniform(0.0, 360.0, (n, a)), cid) + cum) % 360.0
    u = _unit(hdg)
    point = _per_cluster(rng.uniform(-cfg.conflict_spread_nm, cfg.conflict_spread_nm, (n, a, 2)), cid)
    t_arrive = _per_cluster(rng.uniform(*cfg.time_to_conflict_s, (n, a)), cid)
    t_arrive = np.maximum(t_arrive + rng.uniform(-cfg.arrival_spread_s, cfg.arrival_spread_s, (n, a)), 1.0)
    miss = rng.uniform(*cfg.miss_distance_nm, (n, a)) * rng.choice([-1.0, 1.0], (n, a))
    aim = point + np.stack([u[..., 1], -u[..., 0]], axis=-1) * miss[..., None]
    start_c = aim - u * (cas * TAS_PER_CAS * t_arrive / 3600.0)[..., None]
    beyond = np.where(merge, 0.0, rng.uniform(8.0, 14.0, (n, a)))
    wp_c = aim + u * beyond[..., None]
    h = cfg.box_nm / 2
    start = np.where(conflict[..., None], start_c, rng.uniform(-h, h, (n, a, 2)))
    waypoint = np.where(conflict[..., None], wp_c, rng.uniform(-h, h, (n, a, 2)))
    # deal the aircraft to the present slots in random order (absent slots stay last)
    order = np.argsort(np.where(present, rng.random((n, a)), 2.0), axis=1)
    start, waypoint = (np.take_along_axis(v, order[..., None], axis=1) for v in (start, waypoint))
    cas = np.take_along_axis(cas, order, axis=1)
    far_start, far_wp = absent_positions(0, a)
    start = np.where(present[..., None], start, far_start)
    waypoint = np.where(present[..., None], waypoint, far_wp)
    delta = waypoint - start
    heading = np.degrees(np.arctan2(delta[..., 0], delta[..., 1])) % 360.0
    return Traffic(start, heading, waypoint, cas, present)


def _fair(cfg: GeneratorConfig, t: Traffic) -> np.ndarray:
    """``bool[n]``: draws that satisfy every rule of the module docstring."""
    h = cfg.box_nm / 2
    p = t.present
    inside = ((np.abs(t.start) <= h).all(-1) & (np.abs(t.waypoint) <= h).all(-1) | ~p).all(axis=1)
    long_legs = ((np.linalg.norm(t.waypoint - t.start, axis=-1) >= cfg.min_leg_nm) | ~p).all(axis=1)
    d = np.linalg.norm(t.start[:, :, None, :] - t.start[:, None, :, :], axis=-1)
    pairs = p[:, :, None] & p[:, None, :] & ~np.eye(p.shape[1], dtype=bool)
    spaced = np.where(pairs, d, np.inf).min(axis=(1, 2)) >= cfg.min_start_sep_nm
    ok = inside & long_legs & spaced
    if cfg.min_time_to_los_s > 0 and ok.any():
        early = time_to_first_los(t.start[ok], t.waypoint[ok], t.cas[ok] * TAS_PER_CAS, present=p[ok])
        ok[ok] = early >= cfg.min_time_to_los_s
    return ok


def sample(cfg: GeneratorConfig, n: int, rng: np.random.Generator) -> Traffic:
    """``n`` fair random draws (see the module docstring), padded to ``cfg.max_aircraft`` slots."""
    a = cfg.max_aircraft
    out = Traffic(np.zeros((n, a, 2)), np.zeros((n, a)), np.zeros((n, a, 2)), np.zeros((n, a)), np.zeros((n, a), bool))
    count = rng.integers(cfg.num_aircraft[0], cfg.num_aircraft[1] + 1, n)  # fixed per draw across retries
    todo = np.arange(n)
    growth = 1  # candidates per missing draw: REPS[count] x growth (dense traffic is rarely fair)
    for _ in range(MAX_TRIES):
        if todo.size == 0:
            break
        reps = np.minimum(REPS[count[todo]] * growth, 1024)
        batch = max(1, int(np.searchsorted(np.cumsum(reps), MAX_CANDIDATES, side="right")))  # bounded memory
        head, reps = todo[:batch], reps[:batch]
        draw = _draw(cfg, np.repeat(count[head], reps), rng)
        ok = _fair(cfg, draw)
        starts = np.concatenate([[0], np.cumsum(reps)[:-1]])
        first = np.minimum.reduceat(np.where(ok, np.arange(ok.size), ok.size), starts)  # first fair candidate
        found = first < ok.size
        for dst, src in zip(out, draw):
            dst[head[found]] = src[first[found]]
        todo = np.concatenate([head[~found], todo[batch:]])
        if found.mean() < 0.5:
            growth = min(growth * 2, 1024)  # reps are capped at 1024: more growth would only overflow
    if todo.size:
        raise EnvError(f"random traffic generator: {todo.size} draws still invalid after {MAX_TRIES} tries; "
                       f"relax the settings {cfg}")
    return out


def _pair_motion(start: np.ndarray, waypoint: np.ndarray, tas_kt: np.ndarray | float, present: np.ndarray | None):
    """Relative positions and velocities (NM, NM/s) of every pair ``[n, A, A]`` when all fly straight,
    the time both are still short of their waypoints, and the pair mask."""
    tas = np.broadcast_to(np.asarray(tas_kt, dtype=np.float64), start.shape[:2]) / 3600.0
    leg = waypoint - start
    length = np.maximum(np.linalg.norm(leg, axis=-1), 1e-9)
    v = leg / length[..., None] * tas[..., None]
    r = start[:, None, :, :] - start[:, :, None, :]
    dv = v[:, None, :, :] - v[:, :, None, :]
    t_end = length / np.maximum(tas, 1e-12)
    horizon = np.minimum(t_end[:, None, :], t_end[:, :, None])
    a = start.shape[1]
    pairs = ~np.eye(a, dtype=bool)[None]
    if present is not None:
        pairs = pairs & present[:, :, None] & present[:, None, :]
    return r, dv, horizon, pairs


def predicted_conflict(
    start: np.ndarray, waypoint: np.ndarray, tas_kt: np.ndarray | float, separation_nm: float = 5.0,
    present: np.ndarray | None = None,
) -> np.ndarray:
    """``bool[n]``: some pair comes within ``separation_nm`` when all fly straight to their waypoints.

    Each pair's closest approach is taken over the time both are still short of their waypoints.
    """
    r, dv, horizon, pairs = _pair_motion(start, waypoint, tas_kt, present)
    tcpa, _ = cpa(r[..., 0], r[..., 1], dv[..., 0], dv[..., 1], np.inf)
    t = np.clip(tcpa, 0.0, horizon)
    d = np.hypot(r[..., 0] + dv[..., 0] * t, r[..., 1] + dv[..., 1] * t)
    return np.where(pairs, d, np.inf).min(axis=(1, 2)) < separation_nm


def time_to_first_los(
    start: np.ndarray, waypoint: np.ndarray, tas_kt: np.ndarray | float, separation_nm: float = 5.0,
    present: np.ndarray | None = None,
) -> np.ndarray:
    """``float64[n]``: seconds until the first pair closes within ``separation_nm`` when all fly straight
    to their waypoints (``inf`` when none does; 0 when a pair starts inside it)."""
    r, dv, horizon, pairs = _pair_motion(start, waypoint, tas_kt, present)
    a = (dv * dv).sum(-1)
    b = (r * dv).sum(-1)
    c = (r * r).sum(-1) - separation_nm**2
    disc = b * b - a * c
    root = (-b - np.sqrt(np.maximum(disc, 0.0))) / np.maximum(a, 1e-15)
    t = np.where(c <= 0.0, 0.0, np.where((disc >= 0.0) & (a > 1e-15) & (root >= 0.0), root, np.inf))
    t = np.where(pairs & (t <= horizon), t, np.inf)
    return t.min(axis=(1, 2))
