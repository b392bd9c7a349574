"""A scripted conflict-resolution controller for the batched ATC env: the reference a learned one is measured against.

:class:`HeadingResolver` flies every aircraft direct to its waypoint unless that track is predicted to lose
separation; then it takes the heading closest to the direct one whose track keeps every intruder outside the
protected radius (``separation_nm * (1 + margin)``) for ``lookahead_s``, intruders assumed to hold their
current velocity (a velocity-obstacle search over ``headings`` candidate headings, right turns first on ties).
Where no candidate is free it takes the one with the largest predicted minimum distance. Every aircraft
resolves, so a pair shares the manoeuvre; an aircraft turns back to its waypoint as soon as the direct track is
free.

It reads the simulator's state (positions, headings, speeds and waypoints of every aircraft), which a learned
controller does not see, and commands heading only, at the spec's limits. It plugs into
:func:`evo_marl.envs.episodes.run_episodes` like any policy::

    env = make_vec_env("atc/random", num_envs=1000, seed=10004, num_aircraft=4)
    results = run_episodes(HeadingResolver(env), env, seed=10004)
"""

from __future__ import annotations

import numpy as np

from evo_marl.envs.atc.kinematics import bearing_deg, cpa, velocity_nm_s
from evo_marl.envs.atc.simulator import heading_actions, simulator_of
from evo_marl.errors import ConfigError


class HeadingResolver:
    """Direct-to-waypoint flight with velocity-obstacle heading resolution (see the module docstring).

    Args:
        env: a batched ATC env (``make_vec_env("atc/...")``) or its simulator.
        lookahead_s: how far ahead conflicts are probed (s).
        margin: the protected radius is ``separation_nm * (1 + margin)``.
        max_turn_deg: the largest deviation from the direct heading considered.
        headings: candidate deviations on each side (steps of ``max_turn_deg / headings``).
    """

    def __init__(self, env, lookahead_s: float = 300.0, margin: float = 0.5, max_turn_deg: float = 120.0,
                 headings: int = 12):
        sim = simulator_of(env, "HeadingResolver")
        for name, value in (("lookahead_s", lookahead_s), ("max_turn_deg", max_turn_deg)):
            if not value > 0:
                raise ConfigError(name, value, "must be > 0")
        if not margin >= 0:
            raise ConfigError("margin", margin, "must be >= 0")
        if not (isinstance(headings, int) and headings >= 1):
            raise ConfigError("headings", headings, "must be an integer >= 1")
        self.sim, self.lookahead_s, self.margin = sim, float(lookahead_s), float(margin)
        side = np.linspace(0.0, max_turn_deg, headings + 1)[1:]
        # direct first, then alternately right and left, smallest deviation first
        self.offsets = np.concatenate([[0.0], np.stack([side, -side], axis=1).ravel()])

    def __call__(self, obs=None, infos=None) -> dict[str, np.ndarray]:
        """Actions ``agent -> float32[num_envs, 2]`` for the simulator's current state (``obs`` is not read)."""
        sim = self.sim
        dyn, radius = sim.cfg.dynamics, sim.cfg.reward.separation_nm * (1.0 + self.margin)
        tas = sim.cas * dyn.cas_to_tas
        vx, vy = velocity_nm_s(sim.hdg, tas)  # [A, N] NM/s
        direct = bearing_deg(sim.wp_x - sim.x, sim.wp_y - sim.y)
        candidates = direct[None] + self.offsets[:, None, None]  # [C, A, N]
        cx, cy = velocity_nm_s(candidates, tas[None])
        rx = (sim.x[:, None] - sim.x[None])[None]  # [1, own, intruder, N]
        ry = (sim.y[:, None] - sim.y[None])[None]
        dvx = cx[:, :, None] - vx[None, None]  # [C, own, intruder, N]
        dvy = cy[:, :, None] - vy[None, None]
        _, miss = cpa(rx, ry, dvx, dvy, self.lookahead_s)  # predicted minimum distance within the lookahead
        intruder = ~np.eye(len(sim.x), dtype=bool)[:, :, None] & sim.present[:, None] & sim.present[None]
        worst = np.where(intruder[None], miss, np.inf).min(axis=2)  # [C, A, N]
        free = worst >= radius
        # first free candidate in preference order; none free: the largest predicted minimum distance
        choice = np.where(free.any(axis=0), free.argmax(axis=0), worst.argmax(axis=0))
        target = np.take_along_axis(candidates, choice[None], axis=0)[0]
        return heading_actions(sim, target)
