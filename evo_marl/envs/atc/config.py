"""Typed, validated constants of the ATC environment (defaults: the spec's tables).

Every constant of the dynamics, the reward and the observation lives in one of three frozen
dataclasses. :meth:`ATCConfig.from_kwargs` builds one from flat keyword overrides, so
``make_env("atc/head_on", los_entry_penalty=-50.0, neighbor_topk=2)`` works; an unknown name or an
invalid value raises :class:`~evo_marl.errors.ConfigError` naming the field, the value and the rule.

Reward constants are *signed*: each is the amount added to the reward (``time_per_step=-0.005``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from evo_marl.errors import ConfigError

#: Earth radius the reference simulator flies and measures on (BlueSky's 6371 km), in NM.
REFERENCE_EARTH_RADIUS_NM = 3440.065
#: The reference placed aircraft at 60 NM per degree but measured distances on the sphere above, so
#: every distance between scenario points is this factor longer than its nominal value (0.0675 %).
REFERENCE_GEOMETRY_SCALE = REFERENCE_EARTH_RADIUS_NM * math.pi / 180.0 / 60.0
NEIGHBOUR_ORDERS = ("distance", "threat")
NEIGHBOUR_FRAMES = ("world", "heading")


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(name, value, "must be a finite number")
    return float(value)


def _positive(name: str, value: Any) -> None:
    if _finite(name, value) <= 0:
        raise ConfigError(name, value, "must be > 0")


def _non_negative(name: str, value: Any) -> None:
    if _finite(name, value) < 0:
        raise ConfigError(name, value, "must be >= 0")


def _int_at_least(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(name, value, f"must be an integer >= {low}")


def _in_range(name: str, value: Any, low: float, high: float, rule: str) -> None:
    v = _finite(name, value)
    if not low <= v <= high:
        raise ConfigError(name, value, rule)


@dataclass(frozen=True)
class DynamicsConfig:
    """Aircraft model and action scaling (spec sections 1-3).

    Attributes:
        substeps: integration sub-steps per env step (10 x 1 s = one 10 s step).
        substep_s: length of one sub-step in seconds.
        preroll_substeps: sub-steps flown straight at reset before the first observation.
        cas_to_tas: TAS / CAS at 10,000 ft (a constant ratio).
        bank_angle_deg: bank angle of the standard-rate turn (``g tan(bank) / TAS``).
        gravity_mps2: gravitational acceleration.
        cas_rate_kt_s: largest CAS change per second.
        max_heading_change_deg: heading change commanded by ``a[0] = +-1``.
        max_speed_change_kt: CAS change commanded by ``a[1] = +-1``.
        cas_min_kt / cas_max_kt: commanded CAS is clipped to this window.
        default_cas_kt: CAS of aircraft whose scenario entry gives none.
        geometry_scale: factor applied to every scenario coordinate at load time. The default
            reproduces the reference simulator's geometry (see ``REFERENCE_GEOMETRY_SCALE``);
            1.0 gives the nominal flat frame (both match the spec's returns within 0.5).
    """

    substeps: int = 10
    substep_s: float = 1.0
    preroll_substeps: int = 2
    cas_to_tas: float = 1.1548
    bank_angle_deg: float = 25.0
    gravity_mps2: float = 9.80665
    cas_rate_kt_s: float = 1.46
    max_heading_change_deg: float = 18.0
    max_speed_change_kt: float = 10.0
    cas_min_kt: float = 100.0
    cas_max_kt: float = 400.0
    default_cas_kt: float = 250.0
    geometry_scale: float = REFERENCE_GEOMETRY_SCALE

    def __post_init__(self) -> None:
        _int_at_least("substeps", self.substeps, 1)
        _int_at_least("preroll_substeps", self.preroll_substeps, 0)
        for name in ("substep_s", "cas_to_tas", "gravity_mps2", "cas_rate_kt_s", "cas_min_kt", "geometry_scale"):
            _positive(name, getattr(self, name))
        for name in ("max_heading_change_deg", "max_speed_change_kt"):
            _non_negative(name, getattr(self, name))
        _in_range("bank_angle_deg", self.bank_angle_deg, 1e-6, 89.0, "must be in (0, 89] degrees")
        if _finite("cas_max_kt", self.cas_max_kt) <= self.cas_min_kt:
            raise ConfigError("cas_max_kt", self.cas_max_kt, f"must be > cas_min_kt ({self.cas_min_kt})")
        if not self.cas_min_kt <= _finite("default_cas_kt", self.default_cas_kt) <= self.cas_max_kt:
            raise ConfigError("default_cas_kt", self.default_cas_kt,
                              f"must lie in [cas_min_kt, cas_max_kt] = [{self.cas_min_kt}, {self.cas_max_kt}]")

    @property
    def step_s(self) -> float:
        """Simulated seconds per env step."""
        return self.substeps * self.substep_s


@dataclass(frozen=True)
class RewardConfig:
    """Per-agent reward terms (spec section 5); every value is the signed amount added.

    Attributes:
        progress_per_km: reward per km flown closer to the own waypoint (0 on the first step).
        drift_gain / drift_deadzone_deg: ``drift_gain * max(0, drift_prev - drift_now - deadzone)``.
        separation_nm: loss-of-separation (LoS) threshold.
        los_entry_penalty: added on each step the nearest-neighbour distance drops below separation.
        los_depth_scale / deep_breach_nm / deep_breach_boost: while ``d < separation``:
            ``los_depth_scale * (sep - d) / sep * (1 + boost * max(0, 1 - d / deep_breach_nm))``.
        action_cost_per_unit: times ``|a0| + |a1|`` (0 once the waypoint is reached).
        time_per_step / time_per_step_reached: time term before / after the waypoint is reached.
        reach_bonus / reach_radius_nm: paid once, the first step within the radius.
        timeout_penalty: on the last step of a timed-out episode, for agents short of their waypoint.
        team_weight, team_gamma, team_ema, team_cap, team_full_sep_nm: the team shaping term
            (potential 0.5 s/sep inside LoS, rising to 1 at ``team_full_sep_nm``).
        buffer_nm / buffer_penalty: optional shaping beyond the spec (off by default): each step an aircraft's
            nearest neighbour is closer than ``separation_nm + buffer_nm``, it gets ``buffer_penalty`` times
            ``(separation_nm + buffer_nm - d) / buffer_nm`` (capped at 1): a margin to train with, so that a
            policy does not graze the separation minimum. Evaluation on another scenario drops it
            (``transfer_kwargs``), like every reward option.
    """

    progress_per_km: float = 0.04
    drift_gain: float = 0.01
    drift_deadzone_deg: float = 8.0
    separation_nm: float = 5.0
    los_entry_penalty: float = -25.0
    los_depth_scale: float = -1.0
    deep_breach_nm: float = 1.0
    deep_breach_boost: float = 1.5
    action_cost_per_unit: float = -0.01
    time_per_step: float = -0.005
    time_per_step_reached: float = -0.0005
    reach_bonus: float = 10.0
    reach_radius_nm: float = 1.0
    timeout_penalty: float = -10.0
    team_weight: float = 0.6
    team_gamma: float = 0.99
    team_ema: float = 0.05
    team_cap: float = 0.05
    team_full_sep_nm: float = 10.0
    buffer_nm: float = 0.0
    buffer_penalty: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _finite(f.name, getattr(self, f.name))
        for name in ("separation_nm", "deep_breach_nm", "reach_radius_nm"):
            _positive(name, getattr(self, name))
        for name in ("drift_deadzone_deg", "deep_breach_boost", "team_cap", "buffer_nm"):
            _non_negative(name, getattr(self, name))
        _in_range("team_gamma", self.team_gamma, 0.0, 1.0, "must be in [0, 1]")
        _in_range("team_ema", self.team_ema, 0.0, 1.0, "must be in [0, 1]")
        if self.team_full_sep_nm <= self.separation_nm:
            raise ConfigError("team_full_sep_nm", self.team_full_sep_nm,
                              f"must be > separation_nm ({self.separation_nm})")


@dataclass(frozen=True)
class ATCConfig:
    """All settings of one ATC env.

    Attributes:
        dynamics: aircraft model and action scaling.
        reward: reward terms.
        neighbor_topk: neighbour slots in the observation (K; obs size ``6 + K x slot size``: 4 entries,
            +1 with ``neighbor_present_flag``, +1 with ``neighbor_reached_flag``, +3 with ``neighbor_cpa``).
        neighbor_present_flag: append a 0/1 "slot filled" feature to every neighbour slot.
        neighbor_reached_flag: append a 0/1 "at its waypoint" feature to every neighbour slot (such an
            aircraft flies straight on and will not manoeuvre: avoiding it is up to us).
        neighbor_order: ``"distance"`` (the K nearest aircraft, the spec's default) or ``"threat"``
            (aircraft predicted to lose separation with us within ``cpa_horizon_s`` first, soonest
            first, then the others by distance).
        neighbor_cpa: append time to loss of separation, tcpa and dcpa to every neighbour slot.
        neighbor_frame: axes of the neighbours' relative positions and velocities: ``"world"`` (east,
            north: the spec's) or ``"heading"`` (to the right of our heading, ahead of it: the frame of the
            waypoint bearing, so that "intruder on the right" reads the same whichever way we fly).
        cpa_horizon_s: look-ahead of the ``threat`` order and of the CPA features.
        cpa_separation_nm: the separation the ``threat`` order and the CPA features predict a loss of (and
            the unit of dcpa): the 5 NM standard, independent of ``separation_nm`` so that training with a
            reward margin does not change what the policy observes when it is evaluated without one.
        rel_velocity_scale_kt: relative neighbour velocities are given in units of this many knots.
        collision_nm: ``collision`` info threshold (logged only; never ends an episode).
        max_episode_steps: step cap; ``None`` uses the scenario's own (100 core, 150 family).
    """

    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    neighbor_topk: int = 3
    neighbor_present_flag: bool = False
    neighbor_reached_flag: bool = False
    neighbor_order: str = "distance"
    neighbor_cpa: bool = False
    neighbor_frame: str = "world"
    cpa_horizon_s: float = 300.0
    cpa_separation_nm: float = 5.0
    rel_velocity_scale_kt: float = 300.0
    collision_nm: float = 3.0
    max_episode_steps: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dynamics, DynamicsConfig):
            raise ConfigError("dynamics", self.dynamics, "must be a DynamicsConfig")
        if not isinstance(self.reward, RewardConfig):
            raise ConfigError("reward", self.reward, "must be a RewardConfig")
        _int_at_least("neighbor_topk", self.neighbor_topk, 0)
        for name in ("neighbor_present_flag", "neighbor_reached_flag", "neighbor_cpa"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, getattr(self, name), "must be True or False")
        if self.neighbor_order not in NEIGHBOUR_ORDERS:
            raise ConfigError("neighbor_order", self.neighbor_order, f"must be one of {list(NEIGHBOUR_ORDERS)}")
        if self.neighbor_frame not in NEIGHBOUR_FRAMES:
            raise ConfigError("neighbor_frame", self.neighbor_frame, f"must be one of {list(NEIGHBOUR_FRAMES)}")
        _positive("cpa_horizon_s", self.cpa_horizon_s)
        _positive("cpa_separation_nm", self.cpa_separation_nm)
        _positive("rel_velocity_scale_kt", self.rel_velocity_scale_kt)
        _non_negative("collision_nm", self.collision_nm)
        if self.max_episode_steps is not None:
            _int_at_least("max_episode_steps", self.max_episode_steps, 1)

    @property
    def obs_dim(self) -> int:
        """Length of one agent's observation vector."""
        flags = int(self.neighbor_present_flag) + int(self.neighbor_reached_flag)
        return 6 + self.neighbor_topk * (4 + flags + 3 * int(self.neighbor_cpa))

    @classmethod
    def from_kwargs(cls, config: ATCConfig | None = None, **overrides: Any) -> ATCConfig:
        """A config from ``config`` (default: the spec's) with flat keyword overrides.

        A key may name a field of :class:`ATCConfig`, :class:`RewardConfig` or
        :class:`DynamicsConfig` (names are unique across the three); ``reward=`` / ``dynamics=`` may
        also be dicts of overrides.
        """
        base = config if config is not None else cls()
        if not isinstance(base, ATCConfig):
            raise ConfigError("config", config, "must be an ATCConfig or None")
        top, rew, dyn = {}, {}, {}
        rew_names = {f.name for f in fields(RewardConfig)}
        dyn_names = {f.name for f in fields(DynamicsConfig)}
        top_names = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key in ("reward", "dynamics") and isinstance(value, dict):
                (rew if key == "reward" else dyn).update(value)
            elif key in top_names:
                top[key] = value
            elif key in rew_names:
                rew[key] = value
            elif key in dyn_names:
                dyn[key] = value
            else:
                valid = sorted(top_names | rew_names | dyn_names)
                raise ConfigError(key, value, f"unknown ATC option; valid options are {valid}")
        for name, group, target in (("reward", rew, rew_names), ("dynamics", dyn, dyn_names)):
            unknown = sorted(set(group) - target)
            if unknown:
                raise ConfigError(f"{name}.{unknown[0]}", group[unknown[0]],
                                  f"unknown {name} option; valid options are {sorted(target)}")
        if rew:
            top["reward"] = replace(top.get("reward", base.reward), **rew)
        if dyn:
            top["dynamics"] = replace(top.get("dynamics", base.dynamics), **dyn)
        return replace(base, **top) if top else base
