"""The batched ATC simulator: dynamics, reward, episode end and metrics for ``num_envs`` sub-envs.

No Python loop runs over environments or aircraft; one env step is one call of
:func:`~evo_marl.envs.atc.kinematics.integrate` (ten 1 s sub-steps) followed by array arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from evo_marl.envs.atc import generator as gen
from evo_marl.envs.atc.config import ATCConfig
from evo_marl.envs.atc.kinematics import DEG, Geometry, geometry, integrate, wrap180, wrap360
from evo_marl.envs.atc.metrics import clean_episodes
from evo_marl.envs.atc.observation import build_observations, observation_space
from evo_marl.envs.atc.scenarios import Scenario
from evo_marl.envs.atc.traffic import TrafficSource
from evo_marl.envs.native import BatchedSimulator
from evo_marl.errors import CheckpointError, ConfigError, EnvError

REWARD_TERMS = ("progress", "drift", "los_entry", "los_depth", "action_cost", "time", "reach", "timeout", "team",
                "buffer")


class ATCSimulator(BatchedSimulator):
    """ATC collision avoidance for ``num_envs`` sub-envs of one scenario, random traffic or a mix.

    State arrays are agent-major, ``[num_agents, num_envs]``, so reductions over aircraft run on
    the leading axis; everything handed out (rewards, infos, observations) is a transposed view
    shaped ``[num_envs, num_agents, ...]`` whose per-agent columns are contiguous.

    Padded traffic (a source whose episodes have different aircraft counts) has one agent slot per
    aircraft of the largest episode; in a smaller episode the extra slots are *absent*: they are
    counted as having reached their waypoint, observe zeros, get zero reward, are no one's neighbour
    and are inactive in :meth:`active` (the vector env's ``active_mask``).

    Args:
        num_envs: number of sub-envs.
        scenario: a fixed :class:`Scenario`, a :class:`~evo_marl.envs.atc.generator.GeneratorConfig`
            (random traffic drawn on every reset) or a :class:`~evo_marl.envs.atc.traffic.TrafficSource`.
        config: all constants (default: the spec's).
    """

    replicable = True  # deterministic dynamics; traffic draws depend only on how many sub-envs reset

    metadata = {"render_modes": ["rgb_array"], "name": "atc_v0", "render_fps": 4}

    def __init__(self, num_envs: int, scenario: Scenario | gen.GeneratorConfig | TrafficSource,
                 config: ATCConfig | None = None):
        super().__init__(num_envs)
        self.cfg = config if config is not None else ATCConfig()
        if isinstance(scenario, (Scenario, gen.GeneratorConfig)):
            scenario = TrafficSource([scenario], name=getattr(scenario, "name", "random"))
        if not isinstance(scenario, TrafficSource):
            raise EnvError(f"scenario={scenario!r}: must be a Scenario, a GeneratorConfig or a TrafficSource")
        self.scenario = scenario
        self.padded = not scenario.fixed_size
        self.max_episode_steps = self.cfg.max_episode_steps or scenario.max_episode_steps
        self.possible_agents = list(scenario.agent_ids)
        obs_space = observation_space(self.cfg)
        act_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: act_space for a in self.possible_agents}
        shape = (len(self.possible_agents), self.num_envs)
        zeros = lambda dtype=np.float64: np.zeros(shape, dtype)  # noqa: E731
        # aircraft state
        self.x, self.y, self.hdg, self.cas = zeros(), zeros(), zeros(), zeros()
        self.cmd_hdg, self.cmd_cas = zeros(), zeros()
        self.wp_x, self.wp_y = zeros(), zeros()
        self.reached = zeros(bool)
        self.present = np.ones(shape, bool)
        self.cap = np.full(self.num_envs, self.max_episode_steps, np.int64)
        self._own_steps = 0
        # memory of the previous step boundary
        self.t = np.zeros(self.num_envs, np.int64)
        self.prev_wp_dist, self.prev_drift, self.prev_nearest = zeros(), zeros(), zeros()
        self.prev_in_los = zeros(bool)
        self.prev_phi = np.ones(self.num_envs)
        self.team_ema = np.zeros(self.num_envs)
        # episode accumulators
        self.returns = zeros()
        self.los_events = np.zeros(self.num_envs)
        self.los_steps = np.zeros(self.num_envs)
        self.min_sep = np.full(self.num_envs, np.inf)
        self.path, self.start_wp_dist, self.end_wp_dist, self.end_path = zeros(), zeros(), zeros(), zeros()
        self._obs = np.zeros((*shape, self.cfg.obs_dim), np.float32)

    # ------------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """This env's count of ``step`` calls, which a schedule's clock reads (where the traffic has one and
        this env drives it: an evaluation env's steps do not count)."""
        return {"step_count": self._own_steps} if self.scenario.schedule and self.drives_schedule else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        steps = state.get("step_count")
        if steps is None:
            return
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise CheckpointError(f"env state step_count={steps!r}: must be an integer >= 0 (calls of step)")
        self._own_steps = steps
        self.scenario.clock.advance(steps)

    # ----------------------------------------------------------------------------------- reset
    def reset_where(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        traffic, caps = self.scenario.draw(idx.size, rng)
        scale = self.cfg.dynamics.geometry_scale
        x, y = traffic.start[..., 0].T * scale, traffic.start[..., 1].T * scale  # agent-major copies
        wp_x, wp_y = traffic.waypoint[..., 0].T * scale, traffic.waypoint[..., 1].T * scale
        hdg, cas, present = traffic.heading.T.copy(), traffic.cas.T.copy(), traffic.present.T.copy()
        integrate(x, y, hdg, cas, hdg.copy(), cas.copy(), self.cfg.dynamics, self.cfg.dynamics.preroll_substeps)
        geo = geometry(x, y, wp_x, wp_y, present if self.padded else None)
        self.cap[idx] = self.cfg.max_episode_steps or caps
        for name, value in (("x", x), ("y", y), ("hdg", hdg), ("cas", cas), ("cmd_hdg", hdg), ("cmd_cas", cas),
                            ("wp_x", wp_x), ("wp_y", wp_y), ("reached", ~present), ("present", present),
                            ("prev_wp_dist", geo.wp_dist),
                            ("prev_drift", 0.0), ("prev_nearest", geo.nearest), ("prev_in_los", False),
                            ("returns", 0.0), ("path", 0.0), ("start_wp_dist", geo.wp_dist),
                            ("end_wp_dist", geo.wp_dist), ("end_path", 0.0)):
            getattr(self, name)[:, idx] = value
        self.t[idx] = 0
        self.prev_phi[idx] = self._potential(geo.global_min)
        self.team_ema[idx] = 0.0
        self.los_events[idx] = 0.0
        self.los_steps[idx] = 0.0
        self.min_sep[idx] = geo.global_min
        tas = cas * self.cfg.dynamics.cas_to_tas
        rad = (hdg * DEG).astype(np.float32)
        self._obs = self._obs.copy()  # the previous array may have been handed out as a final observation
        self._obs[:, idx] = build_observations(geo, x, y, np.sin(rad), np.cos(rad), tas, geo.wp_dist, geo.nearest,
                                               self.cfg, present if self.padded else None, ~present)

    # ------------------------------------------------------------------------------------ step
    def _potential(self, s: np.ndarray) -> np.ndarray:
        r = self.cfg.reward
        sep, full = r.separation_nm, r.team_full_sep_nm
        inside = 0.5 * np.maximum(s, 0.0) / sep
        outside = 0.5 + 0.5 * np.minimum((s - sep) / (full - sep), 1.0)
        return np.where(np.isinf(s), 1.0, np.where(s <= sep, inside, outside))

    def _actions(self, actions: dict[str, np.ndarray]) -> np.ndarray:
        """Clipped actions, ``float64[2, A, N]`` (heading, speed)."""
        try:
            acts = np.stack([np.asarray(actions[a], np.float64).reshape(self.num_envs, 2)
                             for a in self.possible_agents])
        except (KeyError, ValueError) as err:
            raise EnvError(f"actions: expected one array of shape ({self.num_envs}, 2) per agent in "
                           f"{self.possible_agents} ({err})") from err
        if not np.isfinite(acts).all():
            raise EnvError("actions: contain NaN or inf; every action must be a finite number in [-1, 1]")
        return np.clip(acts, -1.0, 1.0).transpose(2, 0, 1)

    def step(self, actions, rng):
        dyn, r = self.cfg.dynamics, self.cfg.reward
        acts = self._actions(actions)
        active = ~self.reached
        np.copyto(self.cmd_hdg, wrap360(self.hdg + acts[0] * dyn.max_heading_change_deg), where=active)
        np.copyto(self.cmd_cas, np.clip(self.cas + acts[1] * dyn.max_speed_change_kt, dyn.cas_min_kt, dyn.cas_max_kt),
                  where=active)
        self.path += integrate(self.x, self.y, self.hdg, self.cas, self.cmd_hdg, self.cmd_cas, dyn, dyn.substeps)
        present = self.present if self.padded else None
        geo = geometry(self.x, self.y, self.wp_x, self.wp_y, present)
        newly = active & (geo.wp_dist <= r.reach_radius_nm)
        self.reached |= newly
        np.copyto(self.cmd_hdg, self.hdg, where=newly)  # reached: fly straight on
        np.copyto(self.cmd_cas, self.cas, where=newly)
        np.copyto(self.end_wp_dist, geo.wp_dist, where=active)
        np.copyto(self.end_path, self.path, where=active)
        self.t += 1
        self._own_steps += 1
        if self.drives_schedule:
            self.scenario.clock.advance(self._own_steps)
        terminated = self.reached.all(axis=0)
        truncated = (self.t >= self.cap) & ~terminated
        rad = (self.hdg * DEG).astype(np.float32)
        sin_h, cos_h = np.sin(rad), np.cos(rad)
        terms = self._reward_terms(geo, sin_h, cos_h, acts, active, newly, truncated)
        if self.padded:  # absent aircraft earn nothing
            for term in terms.values():
                term *= self.present
        rewards = sum(terms.values())
        tas = self.cas * dyn.cas_to_tas
        self._obs = build_observations(geo, self.x, self.y, sin_h, cos_h, tas, self.prev_wp_dist, self.prev_nearest,
                                       self.cfg, present, self.reached)
        self.prev_wp_dist, self.prev_nearest = geo.wp_dist, geo.nearest
        self.returns += rewards
        np.minimum(self.min_sep, geo.global_min, out=self.min_sep)
        infos: dict[str, Any] = {
            "min_sep_nm": geo.nearest, "wp_dist_nm": geo.wp_dist,
            "conflict": geo.nearest < r.separation_nm, "collision": geo.nearest < self.cfg.collision_nm,
            "waypoint_reached": self.reached.copy(),
        }
        infos.update({f"reward_{k}": v for k, v in terms.items()})
        return rewards.astype(np.float32).T, terminated, truncated, {k: v.T for k, v in infos.items()}

    def _reward_terms(self, geo: Geometry, sin_h, cos_h, acts, active, newly, truncated) -> dict[str, np.ndarray]:
        """Every reward term, ``float64[A, N]`` each (updates the memory of the previous step)."""
        r = self.cfg.reward
        first = self.t == 1
        terms = {"progress": np.where(first, 0.0, r.progress_per_km * 1.852 * (self.prev_wp_dist - geo.wp_dist))}
        # |heading - bearing to waypoint| from the unit vectors (no per-aircraft arctan2 of bearings)
        cos_rel = geo.wp_dx * sin_h + geo.wp_dy * cos_h
        sin_rel = geo.wp_dx * cos_h - geo.wp_dy * sin_h
        drift = np.abs(np.arctan2(sin_rel, cos_rel)) * (1.0 / DEG)
        terms["drift"] = r.drift_gain * np.maximum(0.0, self.prev_drift - drift - r.drift_deadzone_deg)
        self.prev_drift = drift
        d = geo.nearest
        in_los = d < r.separation_nm
        entry = in_los & ~self.prev_in_los
        terms["los_entry"] = entry * r.los_entry_penalty
        depth = (r.separation_nm - d) * (1.0 / r.separation_nm)
        boost = 1.0 + r.deep_breach_boost * np.maximum(0.0, (r.deep_breach_nm - d) * (1.0 / r.deep_breach_nm))
        terms["los_depth"] = np.where(in_los, r.los_depth_scale * depth * boost, 0.0)
        if r.buffer_nm > 0 and r.buffer_penalty != 0:
            closeness = np.clip((r.separation_nm + r.buffer_nm - d) * (1.0 / r.buffer_nm), 0.0, 1.0)
            terms["buffer"] = r.buffer_penalty * closeness
        else:
            terms["buffer"] = np.zeros_like(d)
        terms["action_cost"] = active * (r.action_cost_per_unit * (np.abs(acts[0]) + np.abs(acts[1])))
        terms["time"] = np.where(self.reached, r.time_per_step_reached, r.time_per_step)
        terms["reach"] = newly * r.reach_bonus
        terms["timeout"] = (truncated & ~self.reached) * r.timeout_penalty  # absent slots count as reached
        phi = self._potential(geo.global_min)
        self.team_ema = (1.0 - r.team_ema) * self.team_ema + r.team_ema * (r.team_gamma * phi - self.prev_phi)
        self.prev_phi = phi
        shaped = np.clip(self.team_ema, -r.team_cap, r.team_cap)
        w = 1.0 + (geo.dist < r.separation_nm).sum(axis=0)
        if self.padded:
            w = w * self.present
        n_present = self.present.sum(axis=0) if self.padded else w.shape[0]
        terms["team"] = (r.team_weight * n_present) * w * (shaped / w.sum(axis=0))
        self.los_events += entry.sum(axis=0)
        self.los_steps += geo.global_min < r.separation_nm
        self.prev_in_los = in_los
        return terms

    # ----------------------------------------------------------------------------- accessors
    def observe(self) -> np.ndarray:
        return self._obs.transpose(1, 0, 2)

    def active(self) -> np.ndarray:
        """``bool[N, A]``: the aircraft present in each sub-env (all of them unless traffic is padded)."""
        return self.present.T.copy()

    def episode_metrics(self) -> dict[str, np.ndarray]:
        flown = np.maximum(self.end_path, 1e-9)
        efficiency = np.clip((self.start_wp_dist - self.end_wp_dist) / flown, 0.0, 1.0)
        count = self.present.sum(axis=0)
        waypoints = (self.reached & self.present).sum(axis=0) / count
        return {
            "team_return": self.returns.sum(axis=0),
            "los_events": self.los_events.copy(),
            "los_steps": self.los_steps.copy(),
            "min_separation_nm": np.where(np.isinf(self.min_sep), 200.0, self.min_sep),
            "waypoint_fraction": waypoints,
            "clean": clean_episodes(self.los_events, waypoints).astype(np.float64),
            "path_efficiency": (efficiency * self.present).sum(axis=0) / count,
            "episode_length": self.t.astype(np.float64),
            "num_aircraft": count.astype(np.float64),
            "flight_hours": count * self.t * (self.cfg.dynamics.step_s / 3600.0),
        }

    def state_arrays(self, env_index: int = 0) -> dict[str, np.ndarray]:
        """Copies of one sub-env's aircraft state (positions, headings, speeds, waypoints, reached)."""
        i = env_index
        return {
            "x": self.x[:, i].copy(), "y": self.y[:, i].copy(), "hdg": self.hdg[:, i].copy(),
            "cas": self.cas[:, i].copy(), "tas": self.cas[:, i] * self.cfg.dynamics.cas_to_tas,
            "wp_x": self.wp_x[:, i].copy(), "wp_y": self.wp_y[:, i].copy(), "reached": self.reached[:, i].copy(),
            "present": self.present[:, i].copy(),
        }

    def render(self, env_index: int = 0) -> np.ndarray:
        from evo_marl.envs.atc.render import render_frame

        return render_frame(self, env_index)


def simulator_of(env: Any, controller: str) -> ATCSimulator:
    """The :class:`ATCSimulator` behind a batched ATC env (or the simulator itself), for a full-state ``controller``."""
    sim = getattr(env, "sim", env)
    if not isinstance(sim, ATCSimulator):
        raise ConfigError("env", type(env).__name__, f"{controller} needs a batched ATC env (make_vec_env('atc/...'))")
    return sim


def heading_actions(sim: ATCSimulator, target_deg: np.ndarray) -> dict[str, np.ndarray]:
    """Env actions ``agent -> float32[num_envs, 2]`` turning every aircraft toward ``target_deg`` (``[A, N]``) as
    far as one step allows, speed unchanged; zero for aircraft at their waypoints (the env ignores them)."""
    actions = np.zeros((2, *sim.x.shape))
    actions[0] = np.clip(wrap180(target_deg - sim.hdg) / sim.cfg.dynamics.max_heading_change_deg, -1.0, 1.0)
    actions[:, sim.reached] = 0.0
    return {a: actions[:, i].T.astype(np.float32) for i, a in enumerate(sim.possible_agents)}
