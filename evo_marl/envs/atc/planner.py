"""A centralised rollout planner for the batched ATC env: an estimate of how few losses of separation are possible.

:class:`RolloutPlanner` controls every aircraft of every sub-env at once. At each step it scores ``candidates``
joint plans by flying them ``horizon_steps`` ahead with the simulator's own kinematics (every aircraft of the
sub-env, including those already at their waypoint, which fly straight on), then commands the first step of the
best one. A plan gives each aircraft a heading offset from the direct bearing to its waypoint, held for a number
of steps, then direct to the waypoint. The best plan of the previous step (its hold shortened by one step) and a
few mutations of it are always among the candidates, the rest are drawn at random, so a plan is kept until a
better one is found.

Score of a plan (lower is better): ``los_weight`` times the summed intrusion ``max(0, radius - d)`` of every
pair over the horizon (``radius = separation_nm * (1 + margin)``; one more ``los_weight`` per step a pair is
inside ``separation_nm`` itself), plus the distance (NM) still to fly to the waypoints at the end of the horizon.

Like :class:`~evo_marl.envs.atc.resolver.HeadingResolver` it reads the whole simulator state and commands heading
only; unlike it, it coordinates the aircraft and looks at the whole future of its plans, so it is the stronger
reference (and much slower: about ``candidates x horizon_steps`` simulated steps per env step). It plugs into
:func:`evo_marl.envs.episodes.run_episodes` like any policy::

    env = make_vec_env("atc/random", num_envs=200, seed=10004, num_aircraft=4)
    results = run_episodes(RolloutPlanner(env, seed=0), env, seed=10004)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from evo_marl.envs.atc.kinematics import bearing_deg, integrate, wrap180
from evo_marl.envs.atc.simulator import heading_actions, simulator_of
from evo_marl.errors import ConfigError

OFFSETS_DEG = np.array([-90.0, -60.0, -45.0, -30.0, -15.0, 15.0, 30.0, 45.0, 60.0, 90.0])


class RolloutPlanner:
    """Sampling model-predictive control of all aircraft with the simulator's kinematics (see the module docstring).

    Args:
        env: a batched ATC env (``make_vec_env("atc/...")``) or its simulator.
        seed: seed of the planner's own generator (candidate plans).
        candidates: joint plans scored per sub-env and step (the kept plan and its mutations included).
        horizon_steps: env steps each plan is flown ahead.
        margin: plans are scored against ``separation_nm * (1 + margin)``.
        max_hold_steps: longest time an offset is held before the plan turns direct.
        los_weight: weight of one NM of intrusion per pair and step against one NM of remaining distance.
        substeps: integration sub-steps per predicted env step (the simulator's own step length is kept).
    """

    def __init__(self, env, seed: int = 0, candidates: int = 48, horizon_steps: int = 30, margin: float = 0.2,
                 max_hold_steps: int = 15, los_weight: float = 100.0, substeps: int = 2):
        sim = simulator_of(env, "RolloutPlanner")
        for name, value, low in (("candidates", candidates, 3), ("horizon_steps", horizon_steps, 1),
                                 ("max_hold_steps", max_hold_steps, 1), ("substeps", substeps, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(name, value, f"must be an integer >= {low}")
        if not margin >= 0:
            raise ConfigError("margin", margin, "must be >= 0")
        if not los_weight > 0:
            raise ConfigError("los_weight", los_weight, "must be > 0")
        self.sim, self.rng = sim, np.random.default_rng(seed)
        self.candidates, self.horizon, self.max_hold = candidates, horizon_steps, max_hold_steps
        self.margin, self.los_weight = float(margin), float(los_weight)
        dyn = sim.cfg.dynamics
        self.dyn = dataclasses.replace(dyn, substep_s=dyn.step_s / substeps, substeps=substeps)
        shape = (len(sim.possible_agents), sim.num_envs)
        self.offset, self.hold = np.zeros(shape), np.zeros(shape, np.int64)  # the kept plan

    def _candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """Offsets and holds ``[C, A, N]``: kept plan, all direct, mutations of the kept plan, random plans."""
        c = self.candidates
        shape = (c, *self.offset.shape)
        offset = self.rng.choice(OFFSETS_DEG, size=shape)
        hold = self.rng.integers(1, self.max_hold + 1, size=shape)
        n_mutants = (c - 2) // 2
        keep = np.broadcast_to(self.offset, shape)[2:2 + n_mutants]
        keep_hold = np.broadcast_to(self.hold, shape)[2:2 + n_mutants]
        changed = self.rng.random(keep.shape) < 1.0 / len(self.sim.possible_agents)
        offset[2:2 + n_mutants] = np.where(changed, offset[2:2 + n_mutants], keep)
        hold[2:2 + n_mutants] = np.where(changed, hold[2:2 + n_mutants], keep_hold)
        offset[0], hold[0] = self.offset, self.hold
        offset[1], hold[1] = 0.0, 0
        return offset, hold

    @staticmethod
    def _tile(a: np.ndarray, copies: int) -> np.ndarray:
        """``[A, N]`` -> ``[A, copies * N]`` (candidate-major), a fresh array."""
        return np.broadcast_to(a[:, None], (a.shape[0], copies, a.shape[1])).reshape(a.shape[0], -1).copy()

    def _score(self, offset: np.ndarray, hold: np.ndarray) -> np.ndarray:
        """Cost ``[C, N]`` of flying each candidate plan ``horizon_steps`` ahead."""
        sim, c = self.sim, offset.shape[0]
        r, dyn = sim.cfg.reward, self.dyn
        x, y, hdg, cas = (self._tile(a, c) for a in (sim.x, sim.y, sim.hdg, sim.cas))
        wp_x, wp_y, reached, present = (self._tile(a, c) for a in (sim.wp_x, sim.wp_y, sim.reached, sim.present))
        off = offset.transpose(1, 0, 2).reshape(x.shape)
        hld = hold.transpose(1, 0, 2).reshape(x.shape)
        pair = present[:, None] & present[None] & ~np.eye(len(x), dtype=bool)[:, :, None]
        radius = r.separation_nm * (1.0 + self.margin)
        cost = np.zeros(x.shape[1])
        cmd_cas = cas.copy()  # plans hold every aircraft's speed
        for t in range(self.horizon):
            direct = bearing_deg(wp_x - x, wp_y - y)
            target = np.where(t < hld, direct + off, direct)
            turn = np.clip(wrap180(target - hdg), -dyn.max_heading_change_deg, dyn.max_heading_change_deg)
            cmd = np.where(reached, hdg, hdg + turn)
            integrate(x, y, hdg, cas, cmd, cmd_cas, dyn, dyn.substeps)
            reached |= np.hypot(wp_x - x, wp_y - y) <= r.reach_radius_nm
            dist = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
            intrusion = np.where(pair, np.maximum(0.0, radius - dist) + (dist < r.separation_nm), 0.0)
            cost += self.los_weight * intrusion.sum(axis=(0, 1)) * 0.5
        remaining = np.where(reached | ~present, 0.0, np.hypot(wp_x - x, wp_y - y)).sum(axis=0)
        return (cost + remaining).reshape(c, -1)

    def __call__(self, obs=None, infos=None) -> dict[str, np.ndarray]:
        """Actions ``agent -> float32[num_envs, 2]`` for the simulator's current state (``obs`` is not read)."""
        sim = self.sim
        offset, hold = self._candidates()
        best = self._score(offset, hold).argmin(axis=0)  # [N]
        self.offset = np.take_along_axis(offset, best[None, None], axis=0)[0]
        self.hold = np.take_along_axis(hold, best[None, None], axis=0)[0]
        direct = bearing_deg(sim.wp_x - sim.x, sim.wp_y - sim.y)
        target = np.where(self.hold > 0, direct + self.offset, direct)
        self.hold = np.maximum(self.hold - 1, 0)
        return heading_actions(sim, target)
