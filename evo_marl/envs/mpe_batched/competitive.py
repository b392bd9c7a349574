"""Batched ports of mpe2's tasks with adversaries: tag, adversary, push, crypto and world_comm."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from evo_marl import validation
from evo_marl.envs.mpe_batched.base import (MOVES, BatchedMPEVecEnv, add_contact_forces, boundary_penalty, distance,
                                            episode_generators, integrate, pick, points)
from evo_marl.envs.vector import ArrayDict
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike

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
        for row, rng in zip(rows, episode_generators(seeds)):
            self.pos[row] = points(rng, self.pos.shape[1])
            self.obstacle_pos[row] = points(rng, self.num_obstacles, bound=0.9)
        self.vel[rows] = 0.0

    def _caught(self) -> np.ndarray:
        """``bool[N, adversaries, good]``: adversary touching prey (mpe2's ``is_collision``)."""
        adversaries = self.num_adversaries
        reach = self.ADVERSARY["size"] + self.GOOD["size"]
        return distance(self.pos[:, :adversaries, None] - self.pos[:, None, adversaries:]) < reach

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        force = np.stack([self._move_force(a, actions, accel) for a, accel in zip(self.possible_agents, self.accels)],
                         axis=1)
        add_contact_forces(force, np.concatenate([self.pos, self.obstacle_pos], axis=1), self.sizes, len(self.accels))
        integrate(self.pos, self.vel, force, self.max_speeds)
        caught = self._caught()
        predator = 10.0 * caught.sum(axis=(1, 2))  # every adversary: +10 per contact of any adversary
        prey = -10.0 * caught.sum(axis=1)  # [N, good]
        bound = boundary_penalty(self.pos[:, self.num_adversaries:])
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
        for row, rng in zip(rows, episode_generators(seeds)):
            self.goal[row] = int(rng.integers(self.N))
            self.pos[row] = points(rng, self.N + 1)
            self.landmark_pos[row] = points(rng, self.N)
        self.vel[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        force = np.stack([self._move_force(a, actions) for a in self.possible_agents], axis=1)
        integrate(self.pos, self.vel, force)
        to_goal = distance(self.pos - pick(self.landmark_pos, self.goal)[:, None])  # [N, agents]
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
                parts.insert(0, pick(self.landmark_pos, self.goal) - pos)
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
        for row, rng in zip(rows, episode_generators(seeds)):
            self.goal[row] = int(rng.integers(2))
            self.pos[row] = points(rng, 2)
            self.landmark_pos[row] = points(rng, 2)
        self.vel[rows] = 0.0

    def _advance(self, actions: ArrayDict) -> np.ndarray:
        force = np.stack([self._move_force(a, actions) for a in self.possible_agents], axis=1)
        add_contact_forces(force, self.pos, [self.SIZE, self.SIZE], 2)
        integrate(self.pos, self.vel, force)
        goal = pick(self.landmark_pos, self.goal)
        good = distance(self.pos[:, 1] - goal)
        adversary = good - distance(goal - self.pos[:, 0])
        return np.stack([adversary, -good], axis=1)

    def _observe(self) -> ArrayDict:
        n = self.num_envs
        adv_pos, pos = self.pos[:, 0], self.pos[:, 1]
        adversary = [self.vel[:, 0], (self.landmark_pos - adv_pos[:, None]).reshape(n, -1), pos - adv_pos]
        good = [self.vel[:, 1], pick(self.landmark_pos, self.goal) - pos, self.agent_colours[self.goal],
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
        for row, rng in zip(rows, episode_generators(seeds)):
            self.goal[row] = int(rng.integers(2))
            self.key[row] = int(rng.integers(2))
            self.positions[row] = points(rng, 5)
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
        for row, rng in zip(rows, episode_generators(seeds)):
            self.pos[row] = points(rng, self.pos.shape[1])
            # mpe2 places every landmark (obstacles, food, forests), then food and forests once more
            self.obstacle_pos[row] = points(rng, self.num_obstacles + self.num_food + self.num_forests,
                                             bound=0.9)[:self.num_obstacles]
            self.food_pos[row] = points(rng, self.num_food, bound=0.9)
            self.forest_pos[row] = points(rng, self.num_forests, bound=0.9)
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
        add_contact_forces(force, np.concatenate([self.pos, self.obstacle_pos], axis=1), sizes, len(self.accels))
        integrate(self.pos, self.vel, force, self.max_speeds)

        adversaries = self.num_adversaries
        prey_pos = self.pos[:, adversaries:]
        reach = self.ADVERSARY["size"] + self.GOOD["size"]
        caught = distance(self.pos[:, :adversaries, None] - prey_pos[:, None]) < reach  # [N, adversaries, prey]
        rewards = np.zeros((self.num_envs, len(self.accels)))
        nearest_prey = distance(prey_pos[:, None] - self.pos[:, :adversaries, None]).min(axis=2)  # [N, adversaries]
        hunter = 0 - 0.1 * nearest_prey
        for g in range(self.num_good):  # +5 per contact, added one after another as mpe2 adds them
            for a in range(adversaries):
                hunter = hunter + np.where(caught[:, a, g], 5.0, 0.0)[:, None]
        rewards[:, :adversaries] = hunter
        bound = boundary_penalty(prey_pos)
        prey = -5.0 * caught.sum(axis=1)
        for p in range(2):
            prey = prey - 2 * bound[..., p]
        eating = distance(prey_pos[:, :, None] - self.food_pos[:, None]) < self.GOOD["size"] + self.FOOD_SIZE
        for f in range(self.num_food):
            prey = prey + np.where(eating[:, :, f], 2.0, 0.0)
        prey = prey - 0.05 * distance(self.food_pos[:, None] - prey_pos[:, :, None]).min(axis=2)
        rewards[:, adversaries:] = prey
        return rewards

    def _observe(self) -> ArrayDict:
        n, count, adversaries = self.num_envs, self.pos.shape[1], self.num_adversaries
        landmarks = np.concatenate([self.obstacle_pos, self.food_pos, self.forest_pos], axis=1)
        in_forest = (distance(self.pos[:, :, None] - self.forest_pos[:, None])
                     < self.agent_sizes[None, :, None] + self.FOREST_SIZE)  # [N, agents, forests]
        hidden = in_forest.any(axis=2)
        # [N, observer, other]: both in one forest, or both outside every forest
        together = ((in_forest[:, :, None] & in_forest[:, None]).any(axis=3)
                    | (~hidden[:, :, None] & ~hidden[:, None]))
        obs = {}
        for i, agent in enumerate(self.possible_agents):
            pos = self.pos[:, i]
            others = [j for j in range(count) if j != i]
            seen = together[:, i, others] | (i == 0)  # the leader sees everyone
            rel = np.where(seen[..., None], self.pos[:, others] - pos[:, None], 0.0).reshape(n, -1)
            prey = [k for k, j in enumerate(others) if j >= adversaries]
            vel = np.where(seen[:, prey, None], self.vel[:, [others[k] for k in prey]], 0.0).reshape(n, -1)
            forest_flags = np.where(in_forest[:, i], 1.0, -1.0)
            head = [self.vel[:, i], pos, (landmarks - pos[:, None]).reshape(n, -1), rel]
            parts = head + ([vel, forest_flags, self.message] if i < adversaries else [forest_flags, vel])
            obs[agent] = np.concatenate(parts, axis=1).astype(np.float32)
        return obs
