"""A tiny cooperative env with a known optimum, for fast learning tests.

Every step each agent sees a private random target and must act on it; all agents receive the same
team reward, the mean of their individual scores, so credit must be assigned through the team signal.
Episodes last ``episode_length`` steps and end by truncation. The optimum team return is 0.

Scenarios (``"tiny/<name>"``):

* ``coop_box``: target ``t ~ U[-0.8, 0.8]^2``, action ``Box(-1, 1, (2,))``,
  score ``-||a - t||^2``. A uniformly random policy scores about ``-1.09`` a step.
* ``coop_discrete``: target ``k ~ U{0..3}`` (one-hot), action ``Discrete(4)``, score ``[a == k] - 1``.
* ``coop_multidiscrete``: targets ``(k1 ~ U{0..2}, k2 ~ U{0..1})``, action ``MultiDiscrete([3, 2])``,
  score ``([a1 == k1] + [a2 == k2]) / 2 - 1``.

Observation of agent i: the target encoding followed by the fraction of the episode elapsed.
Fitness (sum over agents of the episode return) is 0 at the optimum; a random policy scores about
``-8.7`` on ``coop_box``, ``-6`` on ``coop_discrete`` and ``-4.7`` on ``coop_multidiscrete`` with the defaults.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from evo_marl.envs.native import BatchedSimulator, NativeParallelEnv, NativeVecEnv
from evo_marl.envs.registry import EnvFamily, register_family
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike

SCENARIOS = ("coop_box", "coop_discrete", "coop_multidiscrete")


class TinyCoopSimulator(BatchedSimulator):
    """Batched rules of the tiny cooperative env (see the module docstring)."""

    metadata = {"render_modes": [], "name": "tiny_coop_v0"}

    def __init__(self, num_envs: int, scenario: str = "coop_box", num_agents: int = 2, episode_length: int = 4):
        super().__init__(num_envs)
        if scenario not in SCENARIOS:
            raise EnvError(f"scenario={scenario!r}: valid tiny scenarios are {list(SCENARIOS)}")
        if not isinstance(num_agents, int) or num_agents < 1:
            raise EnvError(f"num_agents={num_agents!r}: must be an integer >= 1")
        if not isinstance(episode_length, int) or episode_length < 1:
            raise EnvError(f"episode_length={episode_length!r}: must be an integer >= 1")
        self.scenario, self.episode_length = scenario, episode_length
        self.possible_agents = [f"agent_{i}" for i in range(num_agents)]
        if scenario == "coop_box":
            self.target_sizes: tuple[int, ...] = ()
            action_space: spaces.Space = spaces.Box(-1.0, 1.0, (2,), np.float32)
            target_dim = 2
        elif scenario == "coop_discrete":
            self.target_sizes = (4,)
            action_space = spaces.Discrete(4)
            target_dim = 4
        else:
            self.target_sizes = (3, 2)
            action_space = spaces.MultiDiscrete([3, 2])
            target_dim = 5
        obs_space = spaces.Box(-1.0, 1.0, (target_dim + 1,), np.float32)
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: action_space for a in self.possible_agents}
        shape = (self.num_envs, num_agents)
        self.targets = np.zeros((*shape, max(len(self.target_sizes), 2)), np.float32)
        self.t = np.zeros(self.num_envs, np.int64)
        self.returns = np.zeros(self.num_envs, np.float64)

    def _draw_targets(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        n = int(mask.sum())
        if n == 0:
            return
        num_agents = len(self.possible_agents)
        if not self.target_sizes:
            self.targets[mask] = rng.uniform(-0.8, 0.8, (n, num_agents, 2)).astype(np.float32)
        else:
            for j, size in enumerate(self.target_sizes):
                self.targets[mask, :, j] = rng.integers(0, size, (n, num_agents))

    def reset_where(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        self.t[mask] = 0
        self.returns[mask] = 0.0
        self._draw_targets(mask, rng)

    def _scores(self, actions: dict[str, np.ndarray]) -> np.ndarray:
        acts = np.stack([np.asarray(actions[a]) for a in self.possible_agents], axis=1)
        if not self.target_sizes:
            acts = np.clip(acts.astype(np.float32), -1.0, 1.0)
            return -np.sum((acts - self.targets) ** 2, axis=-1)
        acts = acts.reshape(self.num_envs, len(self.possible_agents), len(self.target_sizes))
        hits = acts == self.targets[..., : len(self.target_sizes)]
        return hits.mean(axis=-1) - 1.0

    def step(self, actions, rng):
        scores = self._scores(actions)
        team = scores.mean(axis=1, keepdims=True)
        rewards = np.repeat(team, len(self.possible_agents), axis=1).astype(np.float32)
        self.returns += rewards.sum(axis=1)
        self.t += 1
        truncated = self.t >= self.episode_length
        self._draw_targets(np.ones(self.num_envs, bool), rng)
        return rewards, np.zeros(self.num_envs, bool), truncated, {"score": scores.astype(np.float32)}

    def observe(self) -> np.ndarray:
        num_agents = len(self.possible_agents)
        progress = np.broadcast_to((self.t / self.episode_length)[:, None, None], (self.num_envs, num_agents, 1))
        if not self.target_sizes:
            encoded = self.targets
        else:
            parts = [np.eye(size, dtype=np.float32)[self.targets[..., j].astype(np.int64)]
                     for j, size in enumerate(self.target_sizes)]
            encoded = np.concatenate(parts, axis=-1)
        return np.concatenate([encoded, progress.astype(np.float32)], axis=-1)

    def episode_metrics(self) -> dict[str, np.ndarray]:
        return {"team_return": self.returns.copy()}


OPTIONS = ("num_agents", "episode_length")


def _factory(scenario: str, **kwargs):
    for key in kwargs:
        if key not in OPTIONS:
            raise EnvError(f"env option {key}={kwargs[key]!r}: not an option of 'tiny/{scenario}'; "
                           f"valid options are {list(OPTIONS)}")
    TinyCoopSimulator(1, scenario=scenario, **kwargs)  # checks the values once, here
    return lambda num_envs: TinyCoopSimulator(num_envs, scenario=scenario, **kwargs)


def parallel_env(scenario: str = "coop_box", render_mode: str | None = None, **kwargs) -> NativeParallelEnv:
    """The tiny env as a PettingZoo ``ParallelEnv``."""
    return NativeParallelEnv(_factory(scenario, **kwargs), render_mode=render_mode)


def vec_env(scenario: str, num_envs: int, seed: SeedLike = None, **kwargs) -> NativeVecEnv:
    """The tiny env as a batched :class:`NativeVecEnv`."""
    return NativeVecEnv(_factory(scenario, **kwargs), num_envs, seed=seed)


register_family(EnvFamily("tiny", parallel_env, lambda: list(SCENARIOS), make_vec_env=vec_env))
