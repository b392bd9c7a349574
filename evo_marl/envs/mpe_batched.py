"""Batched NumPy ports of mpe2 tasks: one array step for every sub-env, the same episodes as mpe2.

``make_vec_env("mpe2/simple_speaker_listener_v4", n)`` runs the port; ``batched=False`` (or an option the
port does not model, such as ``render_mode``) runs mpe2's own env in
:class:`~evo_marl.envs.vector.SyncParallelVecEnv`.
A port returns exactly what that wrapper returns over mpe2 for the same seed and actions: the same reset
seed per sub-env (drawn as the wrapper draws them), the same draws from each episode's generator
(gymnasium's ``np_random(seed)``, which mpe2's ``reset(seed=...)`` builds), the same float64 physics and the
same float32 casts (``tests/envs/test_mpe_batched.py`` compares them step by step). It needs NumPy only,
not the mpe2 package.

Ported — every mpe2 task: ``simple_v3`` (:class:`SimpleVecEnv`), ``simple_speaker_listener_v4``
(:class:`SpeakerListenerVecEnv`), ``simple_reference_v3`` (:class:`ReferenceVecEnv`), ``simple_spread_v3``
(:class:`SpreadVecEnv`), ``simple_tag_v3`` (:class:`TagVecEnv`), ``simple_adversary_v3`` (:class:`AdversaryVecEnv`),
``simple_push_v3`` (:class:`PushVecEnv`), ``simple_crypto_v3`` (:class:`CryptoVecEnv`) and ``simple_world_comm_v3``
(:class:`WorldCommVecEnv`), with their size and reward options; the curriculum, early termination and partial
observability of spread, tag and adversary are not modelled (with those options mpe2's env runs). A port
subclasses :class:`BatchedMPEVecEnv` and implements the task's reset draws, physics and observations on arrays.
"""

from __future__ import annotations

import inspect
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


def _episode_generators(seeds: list[int]) -> list[np.random.Generator]:
    """One generator per episode, built as mpe2's ``reset(seed=...)`` builds it."""
    return [np_random(int(seed))[0] for seed in seeds]


def _points(rng: np.random.Generator, count: int, bound: float = 1.0) -> np.ndarray:
    """``count`` points ``[count, 2]`` uniform in ``[-bound, bound]^2``, drawn one after another as mpe2 draws
    its entities' positions (one ``uniform(-bound, bound, 2)`` call each)."""
    return np.stack([rng.uniform(-bound, +bound, 2) for _ in range(count)]) if count else np.zeros((0, 2))


def _pick(points: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Row ``n`` of ``points[n, index[n]]``: each sub-env's chosen point ``[N, 2]`` of ``[N, K, 2]``."""
    return points[np.arange(len(index)), index]


def _integrate(pos: np.ndarray, vel: np.ndarray, force: np.ndarray, max_speed: np.ndarray | None = None) -> None:
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


def _add_contact_forces(force: np.ndarray, pos: np.ndarray, sizes: list[float], num_movable: int) -> None:
    """Add mpe2's soft contact forces (``World.get_collision_force``) between every pair of colliding entities,
    in mpe2's loop order, to ``force [N, num_movable, 2]``. ``pos [N, C, 2]`` and ``sizes`` hold the colliding
    entities in mpe2's order (agents, then landmarks); the first ``num_movable`` are the movable ones."""
    for a in range(len(sizes)):
        for b in range(a + 1, len(sizes)):
            delta = pos[:, a] - pos[:, b]
            dist = _distance(delta)[:, None]
            penetration = np.logaddexp(0, -(dist - (sizes[a] + sizes[b])) / CONTACT_MARGIN) * CONTACT_MARGIN
            push = CONTACT_FORCE * delta / dist * penetration
            if a < num_movable:
                force[:, a] = push + force[:, a]
            if b < num_movable:
                force[:, b] = -push + force[:, b]


def _distance(delta: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis, as mpe2 computes it (``sqrt(sum(square))``)."""
    return np.sqrt(np.sum(np.square(delta), axis=-1))


class SpeakerListenerVecEnv(BatchedMPEVecEnv):
    """``simple_speaker_listener_v4``: a speaker that sees the goal landmark's colour and talks (3 channels),
    a listener that hears it and moves to the goal; both are rewarded ``-|listener - goal|^2`` every step.

    Args:
        num_envs: sub-envs.
        seed: seed of the stream that seeds sub-envs on automatic resets (``reset(seed=...)`` re-seeds).
        max_cycles: steps per episode (mpe2's default 25).
        continuous_actions: Box actions (evo-marl's default) or Discrete ones, as mpe2's option.
    """

    task = "simple_speaker_listener_v4"
    possible_agents = ["speaker_0", "listener_0"]
    NUM_LANDMARKS, DIM_C = 3, 3
    LANDMARK_COLOURS = np.array([[0.65, 0.15, 0.15], [0.15, 0.65, 0.15], [0.15, 0.15, 0.65]])

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.possible_agents = list(type(self).possible_agents)
        unbounded = dict(low=-np.float32(np.inf), high=np.float32(np.inf), dtype=np.float32)
        self._obs_spaces = {"speaker_0": spaces.Box(shape=(3,), **unbounded),
                            "listener_0": spaces.Box(shape=(2 + 2 * self.NUM_LANDMARKS + self.DIM_C,), **unbounded)}
        if continuous_actions:
            self._act_spaces = {"speaker_0": spaces.Box(low=0, high=1, shape=(self.DIM_C,)),
                                "listener_0": spaces.Box(low=0, high=1, shape=(5,))}
        else:
            self._act_spaces = {"speaker_0": spaces.Discrete(self.DIM_C), "listener_0": spaces.Discrete(5)}
        n = self.num_envs
        self.goal = np.zeros(n, np.int64)
        self.speaker_pos = np.zeros((n, 2))  # drawn (mpe2 draws it) but never moves or shows
        self.listener_pos = np.zeros((n, 2))
        self.listener_vel = np.zeros((n, 2))
        self.landmark_pos = np.zeros((n, self.NUM_LANDMARKS, 2))
        self.message = np.zeros((n, self.DIM_C), np.float32)  # the speaker's communication state

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        for row, rng in zip(rows, _episode_generators(seeds)):
            self.goal[row] = int(rng.integers(self.NUM_LANDMARKS))
            self.speaker_pos[row], self.listener_pos[row] = _points(rng, 2)
            self.landmark_pos[row] = _points(rng, self.NUM_LANDMARKS)
        self.listener_vel[rows] = 0.0
        self.message[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        if self.continuous_actions:
            self.message = self._clipped("speaker_0", actions)
        else:
            self.message = np.eye(self.DIM_C, dtype=np.float32)[self._choices("speaker_0", actions)]
        _integrate(self.listener_pos, self.listener_vel, self._move_force("listener_0", actions))
        goal_pos = _pick(self.landmark_pos, self.goal)
        reward = -np.sum(np.square(self.listener_pos - goal_pos), axis=1)
        return np.repeat(reward[:, None], 2, axis=1)

    def _observe(self) -> ArrayDict:
        relative = (self.landmark_pos - self.listener_pos[:, None, :]).reshape(self.num_envs, -1)
        listener = np.concatenate([self.listener_vel, relative, self.message.astype(np.float64)], axis=1)
        return {"speaker_0": self.LANDMARK_COLOURS[self.goal].astype(np.float32),
                "listener_0": listener.astype(np.float32)}


class SimpleVecEnv(BatchedMPEVecEnv):
    """``simple_v3``: one agent moves to one landmark, rewarded ``-|agent - landmark|^2`` every step.

    Args: as :class:`SpeakerListenerVecEnv`.
    """

    task = "simple_v3"
    possible_agents = ["agent_0"]

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.possible_agents = list(type(self).possible_agents)
        self._obs_spaces = {"agent_0": spaces.Box(low=-np.float32(np.inf), high=np.float32(np.inf), shape=(4,),
                                                  dtype=np.float32)}
        self._act_spaces = {"agent_0": spaces.Box(low=0, high=1, shape=(5,)) if continuous_actions
                            else spaces.Discrete(5)}
        self.pos = np.zeros((self.num_envs, 2))
        self.vel = np.zeros((self.num_envs, 2))
        self.landmark_pos = np.zeros((self.num_envs, 2))

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        for row, rng in zip(rows, _episode_generators(seeds)):
            self.pos[row], self.landmark_pos[row] = _points(rng, 2)
        self.vel[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        _integrate(self.pos, self.vel, self._move_force("agent_0", actions))
        return -np.sum(np.square(self.pos - self.landmark_pos), axis=1)[:, None]

    def _observe(self) -> ArrayDict:
        return {"agent_0": np.concatenate([self.vel, self.landmark_pos - self.pos], axis=1).astype(np.float32)}


class ReferenceVecEnv(BatchedMPEVecEnv):
    """``simple_reference_v3``: two agents that move and talk (10 channels); each knows the landmark the other
    must reach (of three, by colour) and is rewarded for the other's distance to it, mixed with the team's mean
    (weight ``1 - local_ratio``).

    Args:
        num_envs, seed, max_cycles, continuous_actions: as :class:`SpeakerListenerVecEnv`.
        local_ratio: weight of the agent's own term, in [0, 1] (mpe2's default 0.5).
    """

    task = "simple_reference_v3"
    possible_agents = ["agent_0", "agent_1"]
    NUM_LANDMARKS, DIM_C = 3, 10
    LANDMARK_COLOURS = np.array([[0.75, 0.25, 0.25], [0.25, 0.75, 0.25], [0.25, 0.25, 0.75]])

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True,
                 local_ratio: float = 0.5):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.local_ratio = validation.number("local_ratio", local_ratio, 0.0, 1.0)
        self.possible_agents = list(type(self).possible_agents)
        obs = spaces.Box(low=-np.float32(np.inf), high=np.float32(np.inf), shape=(2 + 6 + 3 + self.DIM_C,),
                         dtype=np.float32)
        act = (spaces.Box(low=0, high=1, shape=(5 + self.DIM_C,)) if continuous_actions
               else spaces.Discrete(5 * self.DIM_C))
        self._obs_spaces = {a: obs for a in self.possible_agents}
        self._act_spaces = {a: act for a in self.possible_agents}
        n = self.num_envs
        self.goal = np.zeros((n, 2), np.int64)  # agent i knows landmark goal[:, i], which the other must reach
        self.pos = np.zeros((n, 2, 2))
        self.vel = np.zeros((n, 2, 2))
        self.landmark_pos = np.zeros((n, self.NUM_LANDMARKS, 2))
        self.message = np.zeros((n, 2, self.DIM_C))

    def _options(self) -> dict[str, Any]:
        return {**super()._options(), "local_ratio": self.local_ratio}

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        for row, rng in zip(rows, _episode_generators(seeds)):
            for i in range(2):
                self.goal[row, i] = int(rng.integers(self.NUM_LANDMARKS))
            self.pos[row] = _points(rng, 2)
            self.landmark_pos[row] = _points(rng, self.NUM_LANDMARKS)
        self.vel[rows] = 0.0
        self.message[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        for i, agent in enumerate(self.possible_agents):
            if self.continuous_actions:
                self.message[:, i] = self._clipped(agent, actions)[:, 5:]
                force = self._move_force(agent, actions)
            else:
                choice = self._choices(agent, actions)
                self.message[:, i] = np.eye(self.DIM_C)[choice // 5]
                force = MOVES[choice % 5] * SENSITIVITY
            _integrate(self.pos[:, i], self.vel[:, i], force)
        # agent i is rewarded for the other agent's distance to the landmark agent i knows
        own = np.stack([-_distance(self.pos[:, 1 - i] - _pick(self.landmark_pos, self.goal[:, i])) for i in range(2)],
                       axis=1)
        team = (0 + own[:, 0] + own[:, 1]) / 2
        return team[:, None] * (1 - self.local_ratio) + own * self.local_ratio

    def _observe(self) -> ArrayDict:
        obs = {}
        for i, agent in enumerate(self.possible_agents):
            relative = (self.landmark_pos - self.pos[:, i, None]).reshape(self.num_envs, -1)
            parts = [self.vel[:, i], relative, self.LANDMARK_COLOURS[self.goal[:, i]], self.message[:, 1 - i]]
            obs[agent] = np.concatenate(parts, axis=1).astype(np.float32)
        return obs


class SpreadVecEnv(BatchedMPEVecEnv):
    """``simple_spread_v3``: ``N`` agents cover ``N`` landmarks. Each agent's reward mixes the team's
    ``-sum over landmarks of the nearest agent's distance`` (weight ``1 - local_ratio``) with ``-1`` per agent
    it overlaps (weight ``local_ratio``); overlapping agents push each other apart (mpe2's soft contact force).

    Args:
        num_envs, seed, max_cycles, continuous_actions: as :class:`SpeakerListenerVecEnv`.
        N: agents and landmarks (mpe2's default 3).
        local_ratio: weight of the agent's own collision term, in [0, 1] (mpe2's default 0.5).
    """

    task = "simple_spread_v3"
    AGENT_SIZE, DIM_C = 0.15, 2

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True,
                 N: int = 3, local_ratio: float = 0.5):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.N = validation.positive_int("N", N, error=EnvError)
        self.local_ratio = validation.number("local_ratio", local_ratio, 0.0, 1.0)
        n_agents = self.N
        self.possible_agents = [f"agent_{i}" for i in range(n_agents)]
        obs_dim = 4 + 2 * n_agents + 2 * (n_agents - 1) + self.DIM_C * (n_agents - 1)
        space = spaces.Box(low=-np.float32(np.inf), high=np.float32(np.inf), shape=(obs_dim,), dtype=np.float32)
        action = spaces.Box(low=0, high=1, shape=(5,)) if continuous_actions else spaces.Discrete(5)
        self._obs_spaces = {a: space for a in self.possible_agents}
        self._act_spaces = {a: action for a in self.possible_agents}
        self.pos = np.zeros((self.num_envs, n_agents, 2))
        self.vel = np.zeros((self.num_envs, n_agents, 2))
        self.landmark_pos = np.zeros((self.num_envs, n_agents, 2))
        self._others = [[j for j in range(n_agents) if j != i] for i in range(n_agents)]

    def _options(self) -> dict[str, Any]:
        return {**super()._options(), "N": self.N, "local_ratio": self.local_ratio}

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        n_agents = self.N
        for row, rng in zip(rows, _episode_generators(seeds)):
            self.pos[row] = _points(rng, n_agents)
            self.landmark_pos[row] = _points(rng, n_agents)
        self.vel[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        force = np.stack([self._move_force(a, actions) for a in self.possible_agents], axis=1)
        _add_contact_forces(force, self.pos, [self.AGENT_SIZE] * self.N, self.N)
        _integrate(self.pos, self.vel, force)
        contact_distance = self.AGENT_SIZE + self.AGENT_SIZE
        # team term: 0 - d_1 - d_2 - ... over landmarks (mpe2 subtracts them one after another)
        nearest = _distance(self.pos[:, :, None, :] - self.landmark_pos[:, None, :, :]).min(axis=1)  # [N, landmarks]
        team = np.zeros(self.num_envs)
        for k in range(self.N):
            team = team - nearest[:, k]
        overlap = _distance(self.pos[:, :, None, :] - self.pos[:, None, :, :]) < contact_distance
        overlap[:, np.arange(self.N), np.arange(self.N)] = False
        own = -overlap.sum(axis=2).astype(np.float64)
        return team[:, None] * (1 - self.local_ratio) + own * self.local_ratio

    def _observe(self) -> ArrayDict:
        n_agents = self.N
        comm = np.zeros((self.num_envs, self.DIM_C * (n_agents - 1)))  # the agents are silent
        obs = {}
        for i, agent in enumerate(self.possible_agents):
            pos = self.pos[:, i]
            parts = [self.vel[:, i], pos, (self.landmark_pos - pos[:, None]).reshape(self.num_envs, -1),
                     (self.pos[:, self._others[i]] - pos[:, None]).reshape(self.num_envs, -1), comm]
            obs[agent] = np.concatenate(parts, axis=1).astype(np.float32)
        return obs


class TagVecEnv(BatchedMPEVecEnv):
    """``simple_tag_v3``: slower adversaries (predators) chase faster good agents (prey) among obstacles. Every
    adversary gets +10 per adversary-prey contact; a prey gets -10 per adversary touching it and a penalty for
    leaving the unit square; bodies push each other apart (mpe2's soft contact force).

    Args:
        num_envs, seed, max_cycles, continuous_actions: as :class:`SpeakerListenerVecEnv`.
        num_good, num_adversaries, num_obstacles: mpe2's options (defaults 1, 3, 2).
    """

    task = "simple_tag_v3"
    ADVERSARY = {"size": 0.075, "accel": 3.0, "max_speed": 1.0}
    GOOD = {"size": 0.05, "accel": 4.0, "max_speed": 1.3}
    OBSTACLE_SIZE = 0.2

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True,
                 num_good: int = 1, num_adversaries: int = 3, num_obstacles: int = 2):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.num_good = validation.positive_int("num_good", num_good, error=EnvError)
        self.num_adversaries = validation.positive_int("num_adversaries", num_adversaries, error=EnvError)
        self.num_obstacles = validation.positive_int("num_obstacles", num_obstacles, low=0, error=EnvError)
        adversaries, good = self.num_adversaries, self.num_good
        self.possible_agents = [f"adversary_{i}" for i in range(adversaries)] + [f"agent_{i}" for i in range(good)]
        roles = [self.ADVERSARY] * adversaries + [self.GOOD] * good
        self.sizes = [r["size"] for r in roles] + [self.OBSTACLE_SIZE] * self.num_obstacles
        self.accels = [r["accel"] for r in roles]
        self.max_speeds = np.array([r["max_speed"] for r in roles])
        count = adversaries + good
        seen = 4 + 2 * self.num_obstacles + 2 * (count - 1)
        unbounded = dict(low=-np.float32(np.inf), high=np.float32(np.inf), dtype=np.float32)
        self._obs_spaces = {a: spaces.Box(shape=(seen + 2 * (good - (i >= adversaries)),), **unbounded)
                            for i, a in enumerate(self.possible_agents)}  # + the velocities of the other prey
        action = spaces.Box(low=0, high=1, shape=(5,)) if continuous_actions else spaces.Discrete(5)
        self._act_spaces = {a: action for a in self.possible_agents}
        self.pos = np.zeros((self.num_envs, count, 2))
        self.vel = np.zeros((self.num_envs, count, 2))
        self.obstacle_pos = np.zeros((self.num_envs, self.num_obstacles, 2))

    def _options(self) -> dict[str, Any]:
        return {**super()._options(), "num_good": self.num_good, "num_adversaries": self.num_adversaries,
                "num_obstacles": self.num_obstacles}

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        for row, rng in zip(rows, _episode_generators(seeds)):
            self.pos[row] = _points(rng, self.pos.shape[1])
            self.obstacle_pos[row] = _points(rng, self.num_obstacles, bound=0.9)
        self.vel[rows] = 0.0

    def _caught(self) -> np.ndarray:
        """``bool[N, adversaries, good]``: adversary touching prey (mpe2's ``is_collision``)."""
        adversaries = self.num_adversaries
        reach = self.ADVERSARY["size"] + self.GOOD["size"]
        return _distance(self.pos[:, :adversaries, None] - self.pos[:, None, adversaries:]) < reach

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        force = np.stack([self._move_force(a, actions, accel) for a, accel in zip(self.possible_agents, self.accels)],
                         axis=1)
        _add_contact_forces(force, np.concatenate([self.pos, self.obstacle_pos], axis=1), self.sizes, len(self.accels))
        _integrate(self.pos, self.vel, force, self.max_speeds)
        caught = self._caught()
        predator = 10.0 * caught.sum(axis=(1, 2))  # every adversary: +10 per contact of any adversary
        prey = -10.0 * caught.sum(axis=1)  # [N, good]
        x = np.abs(self.pos[:, self.num_adversaries:])  # leaving the square: 0 below 0.9, then steeply more
        bound = np.where(x < 0.9, 0.0, np.where(x < 1.0, (x - 0.9) * 10, np.minimum(np.exp(2 * x - 2), 10)))
        for p in range(2):
            prey = prey - bound[..., p]
        return np.concatenate([np.repeat(predator[:, None], self.num_adversaries, axis=1), prey], axis=1)

    def _observe(self) -> ArrayDict:
        obs, count, n = {}, self.pos.shape[1], self.num_envs
        for i, agent in enumerate(self.possible_agents):
            pos = self.pos[:, i]
            others = [j for j in range(count) if j != i]
            prey = [j for j in others if j >= self.num_adversaries]
            parts = [self.vel[:, i], pos, (self.obstacle_pos - pos[:, None]).reshape(n, -1),
                     (self.pos[:, others] - pos[:, None]).reshape(n, -1), self.vel[:, prey].reshape(n, -1)]
            obs[agent] = np.concatenate(parts, axis=1).astype(np.float32)
        return obs


class AdversaryVecEnv(BatchedMPEVecEnv):
    """``simple_adversary_v3`` (physical deception): ``N`` good agents know which of ``N`` landmarks is the goal,
    the adversary does not. Good agents get ``-(the nearest good agent's distance to the goal)`` plus the
    adversary's distance to it; the adversary gets minus its own distance.

    Args:
        num_envs, seed, max_cycles, continuous_actions: as :class:`SpeakerListenerVecEnv`.
        N: good agents and landmarks (mpe2's default 2).
    """

    task = "simple_adversary_v3"

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True,
                 N: int = 2):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.N = validation.positive_int("N", N, error=EnvError)
        self.possible_agents = ["adversary_0"] + [f"agent_{i}" for i in range(self.N)]
        seen = 2 * self.N + 2 * self.N  # landmarks, then the other agents
        unbounded = dict(low=-np.float32(np.inf), high=np.float32(np.inf), dtype=np.float32)
        self._obs_spaces = {a: spaces.Box(shape=(seen + 2 * (i > 0),), **unbounded)  # good agents: + the goal
                            for i, a in enumerate(self.possible_agents)}
        action = spaces.Box(low=0, high=1, shape=(5,)) if continuous_actions else spaces.Discrete(5)
        self._act_spaces = {a: action for a in self.possible_agents}
        self.goal = np.zeros(self.num_envs, np.int64)
        self.pos = np.zeros((self.num_envs, self.N + 1, 2))
        self.vel = np.zeros((self.num_envs, self.N + 1, 2))
        self.landmark_pos = np.zeros((self.num_envs, self.N, 2))

    def _options(self) -> dict[str, Any]:
        return {**super()._options(), "N": self.N}

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        for row, rng in zip(rows, _episode_generators(seeds)):
            self.goal[row] = int(rng.integers(self.N))
            self.pos[row] = _points(rng, self.N + 1)
            self.landmark_pos[row] = _points(rng, self.N)
        self.vel[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        force = np.stack([self._move_force(a, actions) for a in self.possible_agents], axis=1)
        _integrate(self.pos, self.vel, force)
        to_goal = _distance(self.pos - _pick(self.landmark_pos, self.goal)[:, None])  # [N, agents]
        good = -to_goal[:, 1:].min(axis=1) + (0 + to_goal[:, 0])
        return np.concatenate([-to_goal[:, :1], np.repeat(good[:, None], self.N, axis=1)], axis=1)

    def _observe(self) -> ArrayDict:
        obs, n = {}, self.num_envs
        for i, agent in enumerate(self.possible_agents):
            pos = self.pos[:, i]
            others = [j for j in range(self.N + 1) if j != i]
            parts = [(self.landmark_pos - pos[:, None]).reshape(n, -1),
                     (self.pos[:, others] - pos[:, None]).reshape(n, -1)]
            if i > 0:
                parts.insert(0, _pick(self.landmark_pos, self.goal) - pos)
            obs[agent] = np.concatenate(parts, axis=1).astype(np.float32)
        return obs


class PushVecEnv(BatchedMPEVecEnv):
    """``simple_push_v3``: a good agent, which knows which of two landmarks is its goal (by colour), is rewarded
    ``-(its distance to the goal)``; the adversary, which does not know it, is rewarded for keeping it away
    (the good agent's distance minus its own). The two bodies push each other apart.

    Args: as :class:`SpeakerListenerVecEnv`.
    """

    task = "simple_push_v3"
    possible_agents = ["adversary_0", "agent_0"]
    SIZE = 0.050  # mpe2's default entity size

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.possible_agents = list(type(self).possible_agents)
        unbounded = dict(low=-np.float32(np.inf), high=np.float32(np.inf), dtype=np.float32)
        self._obs_spaces = {"adversary_0": spaces.Box(shape=(8,), **unbounded),
                            "agent_0": spaces.Box(shape=(19,), **unbounded)}
        action = spaces.Box(low=0, high=1, shape=(5,)) if continuous_actions else spaces.Discrete(5)
        self._act_spaces = {a: action for a in self.possible_agents}
        landmark_colours = np.full((2, 3), 0.1)
        landmark_colours[[0, 1], [1, 2]] += 0.8
        self.landmark_colours = landmark_colours.reshape(-1)
        self.agent_colours = np.full((2, 3), 0.25)  # the good agent's colour names its goal
        self.agent_colours[[0, 1], [1, 2]] += 0.5
        self.goal = np.zeros(self.num_envs, np.int64)
        self.pos = np.zeros((self.num_envs, 2, 2))
        self.vel = np.zeros((self.num_envs, 2, 2))
        self.landmark_pos = np.zeros((self.num_envs, 2, 2))

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        for row, rng in zip(rows, _episode_generators(seeds)):
            self.goal[row] = int(rng.integers(2))
            self.pos[row] = _points(rng, 2)
            self.landmark_pos[row] = _points(rng, 2)
        self.vel[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        force = np.stack([self._move_force(a, actions) for a in self.possible_agents], axis=1)
        _add_contact_forces(force, self.pos, [self.SIZE, self.SIZE], 2)
        _integrate(self.pos, self.vel, force)
        goal = _pick(self.landmark_pos, self.goal)
        good = _distance(self.pos[:, 1] - goal)
        adversary = good - _distance(goal - self.pos[:, 0])
        return np.stack([adversary, -good], axis=1)

    def _observe(self) -> ArrayDict:
        n = self.num_envs
        adv_pos, pos = self.pos[:, 0], self.pos[:, 1]
        adversary = [self.vel[:, 0], (self.landmark_pos - adv_pos[:, None]).reshape(n, -1), pos - adv_pos]
        good = [self.vel[:, 1], _pick(self.landmark_pos, self.goal) - pos, self.agent_colours[self.goal],
                (self.landmark_pos - pos[:, None]).reshape(n, -1), np.broadcast_to(self.landmark_colours, (n, 6)),
                adv_pos - pos]
        return {"adversary_0": np.concatenate(adversary, axis=1).astype(np.float32),
                "agent_0": np.concatenate(good, axis=1).astype(np.float32)}


class CryptoVecEnv(BatchedMPEVecEnv):
    """``simple_crypto_v3``: Alice (the speaker) sees the goal of two and a key and talks (4 channels); Bob sees
    the key and hears her; Eve hears her only. Bob and Alice get Eve's squared error minus Bob's in reproducing
    the goal, Eve minus her own (an agent that says all zeros is not scored). Nobody moves.

    Args: as :class:`SpeakerListenerVecEnv`.
    """

    task = "simple_crypto_v3"
    possible_agents = ["eve_0", "bob_0", "alice_0"]
    DIM_C = 4

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.possible_agents = list(type(self).possible_agents)
        unbounded = dict(low=-np.float32(np.inf), high=np.float32(np.inf), dtype=np.float32)
        self._obs_spaces = {"eve_0": spaces.Box(shape=(self.DIM_C,), **unbounded),
                            "bob_0": spaces.Box(shape=(2 * self.DIM_C,), **unbounded),
                            "alice_0": spaces.Box(shape=(2 * self.DIM_C,), **unbounded)}
        action = spaces.Box(low=0, high=1, shape=(self.DIM_C,)) if continuous_actions else spaces.Discrete(self.DIM_C)
        self._act_spaces = {a: action for a in self.possible_agents}
        self.colours = np.eye(2, self.DIM_C)  # landmark i's colour: one-hot i in the message space
        self.goal = np.zeros(self.num_envs, np.int64)
        self.key = np.zeros(self.num_envs, np.int64)
        self.positions = np.zeros((self.num_envs, 5, 2))  # drawn as mpe2 draws them; nothing moves or shows them
        self.message = np.zeros((self.num_envs, 3, self.DIM_C))

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        for row, rng in zip(rows, _episode_generators(seeds)):
            self.goal[row] = int(rng.integers(2))
            self.key[row] = int(rng.integers(2))
            self.positions[row] = _points(rng, 5)
        self.message[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        for i, agent in enumerate(self.possible_agents):
            if self.continuous_actions:
                self.message[:, i] = self._clipped(agent, actions)
            else:
                self.message[:, i] = np.eye(self.DIM_C)[self._choices(agent, actions)]
        goal = self.colours[self.goal]
        # squared error of Eve (0) and Bob (1) reproducing the goal; 0 for one who says nothing
        error = np.sum(np.square(self.message[:, :2] - goal[:, None]), axis=2)
        error = np.where(np.any(self.message[:, :2] != 0, axis=2), error, 0.0)
        good = (0 + error[:, 0]) + (0 - error[:, 1])
        return np.stack([0 - error[:, 0], good, good], axis=1)

    def _observe(self) -> ArrayDict:
        key, alice = self.colours[self.key], self.message[:, 2]
        return {"eve_0": alice.astype(np.float32),
                "bob_0": np.concatenate([key, alice], axis=1).astype(np.float32),
                "alice_0": np.concatenate([self.colours[self.goal], key], axis=1).astype(np.float32)}


class WorldCommVecEnv(BatchedMPEVecEnv):
    """``simple_world_comm_v3``: ``simple_tag`` with food, forests and a leader. Prey (good agents) earn +2 per
    food they touch and ``-0.05 x`` their distance to the nearest food, lose 5 per adversary touching them and
    twice tag's boundary penalty; adversaries get ``-0.1 x`` their distance to the nearest prey and +5 per
    contact of any adversary. Inside a forest an agent sees only the agents in the same forest (outside, only
    those outside every forest); the leader adversary sees everyone and talks (4 channels) to its team.

    Args:
        num_envs, seed, max_cycles, continuous_actions: as :class:`SpeakerListenerVecEnv`.
        num_good, num_adversaries, num_obstacles, num_food, num_forests: mpe2's options (2, 4, 1, 2, 2).
    """

    task = "simple_world_comm_v3"
    ADVERSARY = {"size": 0.075, "accel": 3.0, "max_speed": 1.0}
    GOOD = {"size": 0.045, "accel": 4.0, "max_speed": 1.3}
    OBSTACLE_SIZE, FOOD_SIZE, FOREST_SIZE, DIM_C = 0.2, 0.03, 0.3, 4

    def __init__(self, num_envs: int, seed: SeedLike = None, max_cycles: int = 25, continuous_actions: bool = True,
                 num_good: int = 2, num_adversaries: int = 4, num_obstacles: int = 1, num_food: int = 2,
                 num_forests: int = 2):
        super().__init__(num_envs, seed, max_cycles, continuous_actions)
        self.num_good = validation.positive_int("num_good", num_good, error=EnvError)
        self.num_adversaries = validation.positive_int("num_adversaries", num_adversaries, error=EnvError)
        self.num_obstacles = validation.positive_int("num_obstacles", num_obstacles, low=0, error=EnvError)
        self.num_food = validation.positive_int("num_food", num_food, error=EnvError)
        self.num_forests = validation.positive_int("num_forests", num_forests, low=0, error=EnvError)
        adversaries, good = self.num_adversaries, self.num_good
        self.possible_agents = (["leadadversary_0"] + [f"adversary_{i}" for i in range(adversaries - 1)]
                                + [f"agent_{i}" for i in range(good)])
        roles = [self.ADVERSARY] * adversaries + [self.GOOD] * good
        self.agent_sizes = np.array([r["size"] for r in roles])
        self.accels = [r["accel"] for r in roles]
        self.max_speeds = np.array([r["max_speed"] for r in roles])
        count = adversaries + good
        landmarks = self.num_obstacles + self.num_food + self.num_forests
        seen = 4 + 2 * landmarks + 2 * (count - 1) + self.num_forests
        unbounded = dict(low=-np.float32(np.inf), high=np.float32(np.inf), dtype=np.float32)
        # adversaries also see every prey's velocity and the leader's message, prey the other prey's velocities
        extra = [2 * good + self.DIM_C if i < adversaries else 2 * (good - 1) for i in range(count)]
        self._obs_spaces = {a: spaces.Box(shape=(seen + extra[i],), **unbounded)
                            for i, a in enumerate(self.possible_agents)}
        move = spaces.Box(low=0, high=1, shape=(5,)) if continuous_actions else spaces.Discrete(5)
        talk = (spaces.Box(low=0, high=1, shape=(5 + self.DIM_C,)) if continuous_actions
                else spaces.Discrete(5 * self.DIM_C))
        self._act_spaces = {a: talk if i == 0 else move for i, a in enumerate(self.possible_agents)}
        n = self.num_envs
        self.pos = np.zeros((n, count, 2))
        self.vel = np.zeros((n, count, 2))
        self.obstacle_pos = np.zeros((n, self.num_obstacles, 2))
        self.food_pos = np.zeros((n, self.num_food, 2))
        self.forest_pos = np.zeros((n, self.num_forests, 2))
        self.message = np.zeros((n, self.DIM_C))  # the leader's

    def _options(self) -> dict[str, Any]:
        return {**super()._options(), "num_good": self.num_good, "num_adversaries": self.num_adversaries,
                "num_obstacles": self.num_obstacles, "num_food": self.num_food, "num_forests": self.num_forests}

    def _reset_rows(self, rows: np.ndarray, seeds: list[int]) -> None:
        for row, rng in zip(rows, _episode_generators(seeds)):
            self.pos[row] = _points(rng, self.pos.shape[1])
            # mpe2 places every landmark (obstacles, food, forests), then food and forests once more
            self.obstacle_pos[row] = _points(rng, self.num_obstacles + self.num_food + self.num_forests,
                                             bound=0.9)[:self.num_obstacles]
            self.food_pos[row] = _points(rng, self.num_food, bound=0.9)
            self.forest_pos[row] = _points(rng, self.num_forests, bound=0.9)
        self.vel[rows] = 0.0
        self.message[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        forces = []
        for i, (agent, accel) in enumerate(zip(self.possible_agents, self.accels)):
            if i == 0 and self.continuous_actions:
                self.message = self._clipped(agent, actions)[:, 5:].astype(np.float64)
            elif i == 0:
                choice = self._choices(agent, actions)
                self.message = np.eye(self.DIM_C)[choice // 5]
                forces.append(MOVES[choice % 5] * accel)
                continue
            forces.append(self._move_force(agent, actions, accel))
        force = np.stack(forces, axis=1)
        sizes = list(self.agent_sizes) + [self.OBSTACLE_SIZE] * self.num_obstacles
        _add_contact_forces(force, np.concatenate([self.pos, self.obstacle_pos], axis=1), sizes, len(self.accels))
        _integrate(self.pos, self.vel, force, self.max_speeds)

        adversaries = self.num_adversaries
        prey_pos = self.pos[:, adversaries:]
        reach = self.ADVERSARY["size"] + self.GOOD["size"]
        caught = _distance(self.pos[:, :adversaries, None] - prey_pos[:, None]) < reach  # [N, adversaries, prey]
        rewards = np.zeros((self.num_envs, len(self.accels)))
        nearest_prey = _distance(prey_pos[:, None] - self.pos[:, :adversaries, None]).min(axis=2)  # [N, adversaries]
        hunter = 0 - 0.1 * nearest_prey
        for g in range(self.num_good):  # +5 per contact, added one after another as mpe2 adds them
            for a in range(adversaries):
                hunter = hunter + np.where(caught[:, a, g], 5.0, 0.0)[:, None]
        rewards[:, :adversaries] = hunter
        x = np.abs(prey_pos)
        bound = np.where(x < 0.9, 0.0, np.where(x < 1.0, (x - 0.9) * 10, np.minimum(np.exp(2 * x - 2), 10)))
        prey = -5.0 * caught.sum(axis=1)
        for p in range(2):
            prey = prey - 2 * bound[..., p]
        eating = _distance(prey_pos[:, :, None] - self.food_pos[:, None]) < self.GOOD["size"] + self.FOOD_SIZE
        for f in range(self.num_food):
            prey = prey + np.where(eating[:, :, f], 2.0, 0.0)
        prey = prey - 0.05 * _distance(self.food_pos[:, None] - prey_pos[:, :, None]).min(axis=2)
        rewards[:, adversaries:] = prey
        return rewards

    def _observe(self) -> ArrayDict:
        n, count, adversaries = self.num_envs, self.pos.shape[1], self.num_adversaries
        landmarks = np.concatenate([self.obstacle_pos, self.food_pos, self.forest_pos], axis=1)
        in_forest = (_distance(self.pos[:, :, None] - self.forest_pos[:, None])
                     < self.agent_sizes[None, :, None] + self.FOREST_SIZE)  # [N, agents, forests]
        hidden = in_forest.any(axis=2)
        obs = {}
        for i, agent in enumerate(self.possible_agents):
            pos = self.pos[:, i]
            others = [j for j in range(count) if j != i]
            together = np.stack([(in_forest[:, i] & in_forest[:, j]).any(axis=1) | (~hidden[:, i] & ~hidden[:, j])
                                 for j in others], axis=1)
            seen = together | (i == 0)  # the leader sees everyone
            rel = np.where(seen[..., None], self.pos[:, others] - pos[:, None], 0.0).reshape(n, -1)
            prey = [k for k, j in enumerate(others) if j >= adversaries]
            vel = np.where(seen[:, prey, None], self.vel[:, [others[k] for k in prey]], 0.0).reshape(n, -1)
            forest_flags = np.where(in_forest[:, i], 1.0, -1.0)
            head = [self.vel[:, i], pos, (landmarks - pos[:, None]).reshape(n, -1), rel]
            parts = head + ([vel, forest_flags, self.message] if i < adversaries else [forest_flags, vel])
            obs[agent] = np.concatenate(parts, axis=1).astype(np.float32)
        return obs


PORTS: dict[str, type[BatchedMPEVecEnv]] = {port.task: port for port in (
    SimpleVecEnv, SpeakerListenerVecEnv, ReferenceVecEnv, SpreadVecEnv, TagVecEnv, AdversaryVecEnv, PushVecEnv,
    CryptoVecEnv, WorldCommVecEnv)}
# options a port models besides its own constructor's (dynamic_rescaling concerns rendering only)
IGNORED_OPTIONS = frozenset({"dynamic_rescaling"})


def port_options(port: type[BatchedMPEVecEnv]) -> frozenset[str]:
    """The env options ``port`` takes (its constructor's keywords besides ``num_envs`` and ``seed``)."""
    names = inspect.signature(port.__init__).parameters
    return frozenset(names) - {"self", "num_envs", "seed"} | IGNORED_OPTIONS
