"""Batched ports of mpe2's cooperative tasks: simple, speaker_listener, reference and spread."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from evo_marl import validation
from evo_marl.envs.mpe_batched.base import (MOVES, SENSITIVITY, BatchedMPEVecEnv, add_contact_forces, distance,
                                            episode_generators, integrate, pick, points)
from evo_marl.envs.vector import ArrayDict
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike

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
        for row, rng in zip(rows, episode_generators(seeds)):
            self.pos[row], self.landmark_pos[row] = points(rng, 2)
        self.vel[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        integrate(self.pos, self.vel, self._move_force("agent_0", actions))
        return -np.sum(np.square(self.pos - self.landmark_pos), axis=1)[:, None]

    def _observe(self) -> ArrayDict:
        return {"agent_0": np.concatenate([self.vel, self.landmark_pos - self.pos], axis=1).astype(np.float32)}


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
        for row, rng in zip(rows, episode_generators(seeds)):
            self.goal[row] = int(rng.integers(self.NUM_LANDMARKS))
            self.speaker_pos[row], self.listener_pos[row] = points(rng, 2)
            self.landmark_pos[row] = points(rng, self.NUM_LANDMARKS)
        self.listener_vel[rows] = 0.0
        self.message[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        if self.continuous_actions:
            self.message = self._clipped("speaker_0", actions)
        else:
            self.message = np.eye(self.DIM_C, dtype=np.float32)[self._choices("speaker_0", actions)]
        integrate(self.listener_pos, self.listener_vel, self._move_force("listener_0", actions))
        goal_pos = pick(self.landmark_pos, self.goal)
        reward = -np.sum(np.square(self.listener_pos - goal_pos), axis=1)
        return np.repeat(reward[:, None], 2, axis=1)

    def _observe(self) -> ArrayDict:
        relative = (self.landmark_pos - self.listener_pos[:, None, :]).reshape(self.num_envs, -1)
        listener = np.concatenate([self.listener_vel, relative, self.message.astype(np.float64)], axis=1)
        return {"speaker_0": self.LANDMARK_COLOURS[self.goal].astype(np.float32),
                "listener_0": listener.astype(np.float32)}


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
        for row, rng in zip(rows, episode_generators(seeds)):
            for i in range(2):
                self.goal[row, i] = int(rng.integers(self.NUM_LANDMARKS))
            self.pos[row] = points(rng, 2)
            self.landmark_pos[row] = points(rng, self.NUM_LANDMARKS)
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
            integrate(self.pos[:, i], self.vel[:, i], force)
        # agent i is rewarded for the other agent's distance to the landmark agent i knows
        own = np.stack([-distance(self.pos[:, 1 - i] - pick(self.landmark_pos, self.goal[:, i])) for i in range(2)],
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
        for row, rng in zip(rows, episode_generators(seeds)):
            self.pos[row] = points(rng, n_agents)
            self.landmark_pos[row] = points(rng, n_agents)
        self.vel[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        force = np.stack([self._move_force(a, actions) for a in self.possible_agents], axis=1)
        add_contact_forces(force, self.pos, [self.AGENT_SIZE] * self.N, self.N)
        integrate(self.pos, self.vel, force)
        contact_distance = self.AGENT_SIZE + self.AGENT_SIZE
        # team term: 0 - d_1 - d_2 - ... over landmarks (mpe2 subtracts them one after another)
        nearest = distance(self.pos[:, :, None, :] - self.landmark_pos[:, None, :, :]).min(axis=1)  # [N, landmarks]
        team = np.zeros(self.num_envs)
        for k in range(self.N):
            team = team - nearest[:, k]
        overlap = distance(self.pos[:, :, None, :] - self.pos[:, None, :, :]) < contact_distance
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
