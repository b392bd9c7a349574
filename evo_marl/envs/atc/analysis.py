"""Conflict-detection ("hallucination") analysis and shift testing (spec section 10).

**Ground truth.** At every decision step ``t`` (the state the agents saw before action ``t``),
each pair of aircraft that have not reached their waypoints is extrapolated at constant velocity:
``tcpa = clip(-(r.v) / |v|^2, 0, 120 s)``, ``dcpa = |r + v tcpa|``. The step holds a true conflict
when some pair has ``dcpa < 5 NM``.

**Alerts.** Agent ``i`` alerts at step ``t`` when its action is a manoeuvre (commanded heading change
``>= 3 deg`` or speed change ``>= 5 kt``) that is not simply a turn toward its waypoint (a heading
change that shrinks the angle to the waypoint, with no large speed change), while some intruder
(another aircraft short of its waypoint) has ``0 <= tcpa <= 120 s`` and ``dcpa <= 6 NM``. A step
alerts when any agent does.

Comparing the two per step gives TP / FP / FN / TN. ``precision = TP / (TP + FP)`` and
``recall = TP / (TP + FN)`` (1.0 when their denominator is 0); ``ghost_rate = FP / (FP + TN)``
(false alarms: "ghost conflicts") and ``missed_rate = FN / (FN + TP)`` ("missed conflicts").

**Shift testing** perturbs one agent of a base scenario (:func:`shift_scenario`) and replays a policy
on every variant (:func:`evaluate_shifts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo_marl.envs.atc.kinematics import bearing_deg, cpa, velocity_nm_s, wrap180
from evo_marl.envs.atc.scenarios import Scenario, load_scenario, parse_scenario
from evo_marl.envs.atc.tracks import Policy, Tracks, record_episode
from evo_marl.errors import EnvError

SHIFT_KINDS = ("heading", "speed", "position", "waypoint")


@dataclass(frozen=True)
class DetectionThresholds:
    """Constants of the analysis (defaults: spec section 10)."""

    separation_nm: float = 5.0
    horizon_s: float = 120.0
    intruder_dcpa_nm: float = 6.0
    heading_change_deg: float = 3.0
    speed_change_kt: float = 5.0


@dataclass(frozen=True)
class ConflictReport:
    """Per-step ground truth vs alerts of one episode."""

    ground_truth: np.ndarray  # bool[T]
    alerts: np.ndarray  # bool[T]
    agent_alerts: np.ndarray  # bool[T, A]
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def ghost_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def missed_rate(self) -> float:
        return self.fn / (self.fn + self.tp) if self.fn + self.tp else 0.0

    def summary(self) -> dict[str, float]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn, "precision": self.precision,
                "recall": self.recall, "ghost_rate": self.ghost_rate, "missed_rate": self.missed_rate}


def _pair_cpa(tracks: Tracks, horizon_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unclipped tcpa, dcpa (tcpa clipped to the horizon) ``[T, A, A]`` and the pair mask."""
    t = tracks.num_steps
    x, y, hdg, tas = (a[:t] for a in (tracks.x, tracks.y, tracks.hdg, tracks.tas))
    vx, vy = velocity_nm_s(hdg, tas)
    rx, ry = x[:, None, :] - x[:, :, None], y[:, None, :] - y[:, :, None]
    tcpa, dcpa = cpa(rx, ry, vx[:, None, :] - vx[:, :, None], vy[:, None, :] - vy[:, :, None], horizon_s)
    flying = ~tracks.reached[:t]
    pairs = flying[:, :, None] & flying[:, None, :]
    idx = np.arange(len(tracks.agent_ids))
    pairs[:, idx, idx] = False
    return tcpa, dcpa, pairs


def ground_truth(tracks: Tracks, th: DetectionThresholds = DetectionThresholds()) -> np.ndarray:
    """``bool[T]``: a pair of flying aircraft has ``dcpa < separation`` within the horizon."""
    _, dcpa, pairs = _pair_cpa(tracks, th.horizon_s)
    return (pairs & (dcpa < th.separation_nm)).any(axis=(1, 2))


def agent_alerts(tracks: Tracks, th: DetectionThresholds = DetectionThresholds()) -> np.ndarray:
    """``bool[T, A]``: agent manoeuvres away from a plain turn-to-waypoint while an intruder is near."""
    t = tracks.num_steps
    tcpa, dcpa, pairs = _pair_cpa(tracks, th.horizon_s)
    intruder = (pairs & (tcpa >= 0.0) & (tcpa <= th.horizon_s) & (dcpa <= th.intruder_dcpa_nm)).any(axis=2)
    dh, dv = tracks.heading_change_deg, tracks.speed_change_kt
    to_wp = bearing_deg(tracks.waypoint[:, 0] - tracks.x[:t], tracks.waypoint[:, 1] - tracks.y[:t])
    err = wrap180(to_wp - tracks.hdg[:t])  # signed turn that would point the aircraft at its waypoint
    toward = (dh * err > 0) & (np.abs(err - dh) < np.abs(err)) & (np.abs(dv) < th.speed_change_kt)
    manoeuvre = (np.abs(dh) >= th.heading_change_deg) | (np.abs(dv) >= th.speed_change_kt)
    return manoeuvre & ~toward & intruder


def conflict_detection(tracks: Tracks, th: DetectionThresholds = DetectionThresholds()) -> ConflictReport:
    """Per-step confusion of alerts against ground-truth conflicts for one recorded episode."""
    g = ground_truth(tracks, th)
    per_agent = agent_alerts(tracks, th)
    a = per_agent.any(axis=1)
    return ConflictReport(g, a, per_agent, tp=int(np.sum(a & g)), fp=int(np.sum(a & ~g)),
                          fn=int(np.sum(~a & g)), tn=int(np.sum(~a & ~g)))


# ------------------------------------------------------------------------------ shift testing
def shift_scenario(base: str | Scenario, agent: str, kind: str, amount: float | tuple[float, float]) -> Scenario:
    """A copy of ``base`` with one agent perturbed.

    Args:
        base: scenario name, file path or :class:`Scenario`.
        agent: id of the agent to perturb.
        kind: ``"heading"`` (add ``amount`` degrees), ``"speed"`` (add ``amount`` kt CAS),
            ``"position"`` (move the start: a number moves it along the initial heading, an
            ``(dx, dy)`` pair moves it by that many NM) or ``"waypoint"`` (a number moves the
            waypoint along the start-to-waypoint leg, a pair moves it by ``(dx, dy)`` NM).
        amount: the size of the perturbation.
    """
    scen = load_scenario(base)
    if agent not in scen.agent_ids:
        raise EnvError(f"agent={agent!r}: not in scenario {scen.name!r}; valid agents are {list(scen.agent_ids)}")
    if kind not in SHIFT_KINDS:
        raise EnvError(f"kind={kind!r}: valid shift kinds are {list(SHIFT_KINDS)}")
    data = scen.to_dict()
    ac = data["aircraft"][scen.agent_ids.index(agent)]
    is_pair = isinstance(amount, (tuple, list, np.ndarray))
    if kind in ("heading", "speed") and is_pair:
        raise EnvError(f"amount={amount!r}: a {kind} shift takes one number")
    if kind == "heading":
        ac["heading"] = (ac["heading"] + float(amount)) % 360.0
    elif kind == "speed":
        ac["cas_kt"] = ac["cas_kt"] + float(amount)
    else:
        key = "start" if kind == "position" else "waypoint"
        if is_pair:
            offset = np.asarray(amount, np.float64).reshape(2)
        elif kind == "position":
            h = np.radians(ac["heading"])
            offset = float(amount) * np.array([np.sin(h), np.cos(h)])
        else:
            leg = np.subtract(ac["waypoint"], ac["start"])
            offset = float(amount) * leg / np.linalg.norm(leg)
        ac[key] = (np.asarray(ac[key]) + offset).tolist()
    label = np.round(np.asarray(amount, np.float64), 3).tolist() if is_pair else f"{float(amount):+g}"
    data["name"] = f"{scen.name}+{agent}.{kind}{label}"
    return parse_scenario(data, source=f"shift of {scen.name}")


def default_shifts(scenario: str | Scenario, agent: str | None = None) -> list[tuple[str, str, Any]]:
    """A small grid of one-agent shifts: heading +-5/10/20 deg, speed +-10/20 kt, start +-2/5 NM
    along track, waypoint 2/5 NM to either side of the leg (first agent unless ``agent``)."""
    scen = load_scenario(scenario)
    aid = agent or scen.agent_ids[0]
    i = scen.agent_ids.index(aid)
    leg = scen.waypoint[i] - scen.start[i]
    side = np.array([leg[1], -leg[0]]) / np.linalg.norm(leg)
    shifts: list[tuple[str, str, Any]] = [(aid, "heading", s * v) for v in (5.0, 10.0, 20.0) for s in (-1, 1)]
    shifts += [(aid, "speed", s * v) for v in (10.0, 20.0) for s in (-1, 1)]
    shifts += [(aid, "position", s * v) for v in (2.0, 5.0) for s in (-1, 1)]
    shifts += [(aid, "waypoint", tuple(float(c) for c in s * v * side)) for v in (2.0, 5.0) for s in (-1, 1)]
    return shifts


@dataclass(frozen=True)
class ShiftResult:
    """One variant of a shift test: the shift (``None`` for the baseline), its episode and analysis."""

    shift: tuple[str, str, Any] | None
    scenario: Scenario
    tracks: Tracks
    report: ConflictReport

    def row(self) -> dict[str, Any]:
        """A flat record (for a table or CSV)."""
        agent, kind, amount = self.shift if self.shift else ("", "baseline", 0.0)
        return {"scenario": self.scenario.name, "agent": agent, "kind": kind, "amount": amount,
                **self.tracks.metrics, **self.report.summary()}


def evaluate_shifts(
    policy: Policy | None, base: str | Scenario, shifts: Iterable[tuple[str, str, Any]] | None = None,
    seed: int | None = 0, th: DetectionThresholds = DetectionThresholds(), **env_kwargs: Any,
) -> list[ShiftResult]:
    """Replay ``policy`` (``obs_dict -> action_dict``; ``None`` flies straight) on the base scenario
    and on every shifted variant (:func:`default_shifts` unless given).

    Returns:
        the baseline first, then one :class:`ShiftResult` per shift, in order.
    """
    from evo_marl.envs.atc.env import parallel_env

    scen = load_scenario(base)
    variants: list[tuple[tuple[str, str, Any] | None, Scenario]] = [(None, scen)]
    variants += [(s, shift_scenario(scen, *s)) for s in (default_shifts(scen) if shifts is None else shifts)]
    results = []
    for shift, variant in variants:
        tracks = record_episode(parallel_env(scenario=variant, **env_kwargs), policy, seed=seed)
        results.append(ShiftResult(shift, variant, tracks, conflict_detection(tracks, th)))
    return results
