"""The shared part of the batched mpe2 ports: seeding, auto-reset and the vector-env contract
(:class:`BatchedMPEVecEnv`), and mpe2's physics on arrays, in its order of float64 operations."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils.seeding import np_random

from evo_marl import validation
from evo_marl.envs.vector import ArrayDict, VectorEnv, reset_seeds
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike, int_seed, seed_sequence

DT, DAMPING, SENSITIVITY = 0.1, 0.25, 5.0  # mpe2's World.dt, World.damping, the default action sensitivity
CONTACT_FORCE, CONTACT_MARGIN = 1e2, 1e-3  # mpe2's World.contact_force, World.contact_margin
MOVES = np.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])  # Discrete(5): none, -x, +x, -y, +y


class BatchedMPEVecEnv(VectorEnv):
    """Seeding, auto-reset and the vector-env contract shared by the mpe2 ports.

    Subclasses set ``task``, ``possible_agents``, ``_obs_spaces`` and ``_act_spaces`` in ``__init__`` and
    implement :meth:`_reset_rows`, :meth:`_advance` and :meth:`_observe`.
    """

    task: str

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True):
        self.num_envs = validation.positive_int("num_envs", num_envs, error=EnvError)
        self.max_cycles = validation.positive_int("max_cycles", max_cycles, error=EnvError)
        self.continuous_actions = validation.flag("continuous_actions", continuous_actions)
        self.metadata = {"name": self.task, "render_modes": [], "is_parallelizable": True}
        self._rng = np.random.default_rng(seed_sequence(seed))
        self._block = self.num_envs  # sub-envs per block of same episodes (see replicated)
        self._cycles = np.zeros(self.num_envs, np.int64)
        self._needs_reset = True

    # ------------------------------------------------------------------ task hooks
    @abstractmethod
    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        """Start episode ``seeds[k]`` in sub-env ``rows[k]`` (drawing as mpe2's ``reset_world`` does)."""

    @abstractmethod
    def _advance(self, actions: ArrayDict) -> np.ndarray:
        """One world step of every sub-env; returns the rewards ``float64[N, A]``."""

    @abstractmethod
    def _observe(self) -> ArrayDict:
        """Observations ``agent -> float32[N, obs_dim]`` of the current states."""

    # ------------------------------------------------------------------ VectorEnv
    def single_observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def single_action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def _options(self) -> dict[str, Any]:
        return {"max_cycles": self.max_cycles, "continuous_actions": self.continuous_actions}

    def spawn(self, num_envs: int, seed: SeedLike = None) -> BatchedMPEVecEnv:
        return type(self)(num_envs, seed=seed, **self._options())

    def _replicate(self, copies: int) -> BatchedMPEVecEnv:
        env = self.spawn(self.num_envs * copies)  # every episode is a function of its reset seed only
        env._block = self.num_envs
        return env

    def _start(self, rows: np.ndarray, seeds: list[int]) -> None:
        self._cycles[rows] = 0
        self._reset_rows(rows, seeds)

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[ArrayDict, dict]:
        seeds, self._rng = reset_seeds(seed, self._rng, self.num_envs, self._block)
        self._start(np.arange(self.num_envs), seeds)
        self._needs_reset = False
        obs = self._observe()
        return obs, self._infos(obs, np.zeros(self.num_envs, bool))

    def step(self, actions: ArrayDict) -> tuple[ArrayDict, ArrayDict, ArrayDict, ArrayDict, dict]:
        self._check_step(actions)
        rewards = self._advance(actions).astype(np.float32)
        self._cycles += 1
        done = self._cycles >= self.max_cycles  # mpe2 tasks end by their time limit only
        final_obs = self._observe()
        obs = final_obs
        if done.any():
            rows = np.flatnonzero(done)
            self._start(rows, [int_seed(self._rng) for _ in rows])
            obs = self._observe()
        never = np.zeros(self.num_envs, bool)
        return (obs, {a: rewards[:, i] for i, a in enumerate(self.possible_agents)},
                {a: never.copy() for a in self.possible_agents}, {a: done.copy() for a in self.possible_agents},
                self._infos(final_obs, done))

    def _infos(self, final_obs: ArrayDict, final_mask: np.ndarray) -> dict:
        infos: dict[str, Any] = {a: {} for a in self.possible_agents}
        infos.update(active_mask={a: np.ones(self.num_envs, bool) for a in self.possible_agents},
                     final_mask=final_mask, final_observation=final_obs, episode={})
        return infos

    def _clipped(self, agent: str, actions: ArrayDict) -> np.ndarray:
        """Box actions ``float32[N, k]`` clipped to their space, as the wrapper and mpe2 clip them."""
        space = self._act_spaces[agent]
        return np.clip(np.asarray(actions[agent], np.float32).reshape(self.num_envs, -1), space.low, space.high)

    def _move_force(self, agent: str, actions: ArrayDict, accel: float = SENSITIVITY) -> np.ndarray:
        """The force ``float64[N, 2]`` a movable agent's action applies (mpe2's ``_set_action``; ``accel``: the
        agent's acceleration, mpe2's sensitivity 5 where it sets none)."""
        if self.continuous_actions:
            move = self._clipped(agent, actions)
            force = np.stack([move[:, 2] - move[:, 1], move[:, 4] - move[:, 3]], axis=1).astype(np.float64)
        else:
            force = MOVES[self._choices(agent, actions)]
        return force * accel

    def _choices(self, agent: str, actions: ArrayDict) -> np.ndarray:
        """Discrete actions ``int64[N]``; EnvError for one outside the space (as the wrapper raises)."""
        n = int(self._act_spaces[agent].n)
        choice = np.asarray(actions[agent]).reshape(self.num_envs, -1)[:, 0].astype(np.int64)
        bad = (choice < 0) | (choice >= n)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise EnvError(f"action {int(choice[row])} of agent {agent!r} in sub-env {row} is outside its space "
                           f"Discrete({n})")
        return choice


def episode_generators(seeds: list[int]) -> list[np.random.Generator]:
    """One generator per episode, built as mpe2's ``reset(seed=...)`` builds it."""
    return [np_random(int(seed))[0] for seed in seeds]


def points(rng: np.random.Generator, count: int, bound: float = 1.0) -> np.ndarray:
    """``count`` points ``[count, 2]`` uniform in ``[-bound, bound]^2``, drawn one after another as mpe2 draws
    its entities' positions (one ``uniform(-bound, bound, 2)`` call each)."""
    return np.stack([rng.uniform(-bound, +bound, 2) for _ in range(count)]) if count else np.zeros((0, 2))


def pick(points: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Row ``n`` of ``points[n, index[n]]``: each sub-env's chosen point ``[N, 2]`` of ``[N, K, 2]``."""
    return points[np.arange(len(index)), index]


def integrate(pos: np.ndarray, vel: np.ndarray, force: np.ndarray, max_speed: np.ndarray | None = None) -> None:
    """mpe2's ``World.integrate_state`` in place, in its order of float64 operations (mass 1), for positions,
    velocities and forces ``[..., 2]``; ``max_speed`` (broadcast against ``[...]``) caps the speed as mpe2 does."""
    pos += vel * DT
    vel *= 1 - DAMPING
    vel += (force / 1.0) * DT
    if max_speed is not None:
        speed = np.sqrt(np.square(vel[..., 0]) + np.square(vel[..., 1]))
        fast = speed > max_speed
        if fast.any():
            limit = np.broadcast_to(max_speed, speed.shape)[fast]
            vel[fast] = vel[fast] / speed[fast][:, None] * limit[:, None]


def add_contact_forces(force: np.ndarray, pos: np.ndarray, sizes: list[float], num_movable: int) -> None:
    """Add mpe2's soft contact forces (``World.get_collision_force``) between every pair of colliding entities,
    in mpe2's loop order, to ``force [N, num_movable, 2]``. ``pos [N, C, 2]`` and ``sizes`` hold the colliding
    entities in mpe2's order (agents, then landmarks); the first ``num_movable`` are the movable ones."""
    for a in range(len(sizes)):
        for b in range(a + 1, len(sizes)):
            delta = pos[:, a] - pos[:, b]
            dist = distance(delta)[:, None]
            penetration = np.logaddexp(0, -(dist - (sizes[a] + sizes[b])) / CONTACT_MARGIN) * CONTACT_MARGIN
            push = CONTACT_FORCE * delta / dist * penetration
            if a < num_movable:
                force[:, a] = push + force[:, a]
            if b < num_movable:
                force[:, b] = -push + force[:, b]


def boundary_penalty(pos: np.ndarray) -> np.ndarray:
    """mpe2 tag's penalty for leaving the unit square, per coordinate of ``pos``: 0 below 0.9, then
    ``10 (|x| - 0.9)`` up to 1, then ``min(exp(2 |x| - 2), 10)``."""
    x = np.abs(pos)
    return np.where(x < 0.9, 0.0, np.where(x < 1.0, (x - 0.9) * 10, np.minimum(np.exp(2 * x - 2), 10)))


def distance(delta: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis, as mpe2 computes it (``sqrt(sum(square))``)."""
    return np.sqrt(np.sum(np.square(delta), axis=-1))
