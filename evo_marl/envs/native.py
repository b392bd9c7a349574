"""Plumbing shared by the native NumPy simulators (ATC, Bucket Brigade, the tiny test env).

A simulator subclasses :class:`BatchedSimulator` and implements only its rules on arrays shaped
``[num_envs, num_agents, ...]``. Two views are then built for it without more code:

* :class:`NativeVecEnv`: the :class:`~evo_marl.envs.vector.VectorEnv` used by the trainers
  (auto-reset, true final observations, active masks, episode metrics);
* :class:`NativeParallelEnv`: a PettingZoo ``ParallelEnv`` of one sub-env (no auto-reset; ``agents``
  is empty after the last step), which passes ``pettingzoo.test.parallel_api_test``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from evo_marl.envs.vector import ArrayDict, VectorEnv
from evo_marl import validation
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike, seed_sequence


class BatchedSimulator(ABC):
    """Rules of one env family, vectorised over ``num_envs`` sub-envs.

    Subclasses set ``possible_agents``, ``observation_spaces`` and ``action_spaces`` (dicts of cached
    space objects) in ``__init__`` and implement the abstract methods. All randomness must come from
    the ``rng`` arguments.
    """

    possible_agents: list[str]
    observation_spaces: dict[str, spaces.Space]
    action_spaces: dict[str, spaces.Space]
    metadata: dict[str, Any] = {"render_modes": [], "name": "batched_simulator"}
    #: True where ``step`` draws nothing from ``rng`` and ``reset_where`` draws the same for the same number
    #: of sub-envs whichever they are: then blocks of sub-envs reset from equal streams replay equal episodes
    #: (:meth:`~evo_marl.envs.vector.VectorEnv.replicated`).
    replicable: bool = False
    #: False on simulators that only play evaluation episodes (:meth:`~evo_marl.envs.vector.VectorEnv.for_evaluation`):
    #: their steps then advance nothing other simulators of the same factory read (e.g. a curriculum's clock).
    drives_schedule: bool = True

    def __init__(self, num_envs: int):
        self.num_envs = validation.positive_int("num_envs", num_envs, error=EnvError)

    @abstractmethod
    def reset_where(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        """Start a new episode in every sub-env where ``mask`` (bool[num_envs]) is True."""

    @abstractmethod
    def step(self, actions: ArrayDict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Advance every sub-env one step.

        Returns:
            rewards ``float32[N, A]``, terminated ``bool[N]`` (episode really over), truncated
            ``bool[N]`` (time limit), and per-agent infos ``key -> array[N, A, ...]``.
        """

    @abstractmethod
    def observe(self) -> np.ndarray:
        """Observations of every agent, ``float32[N, A, obs_dim]`` (all agents share one obs size)."""

    def active(self) -> np.ndarray:
        """``bool[N, A]``: agents that act in the current state (all of them by default)."""
        return np.ones((self.num_envs, len(self.possible_agents)), bool)

    def episode_metrics(self) -> dict[str, np.ndarray]:
        """Metrics of the current (just finished) episodes, ``name -> float64[N]``."""
        return {}

    def render(self, env_index: int = 0) -> np.ndarray | None:
        """An RGB frame of one sub-env, where the family supports rendering."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """The vector env's :meth:`~evo_marl.envs.vector.VectorEnv.state_dict` (empty by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (a resumed run)."""


SimulatorFactory = Callable[[int], BatchedSimulator]


class NativeVecEnv(VectorEnv):
    """A :class:`VectorEnv` over a :class:`BatchedSimulator`, with auto-reset."""

    def __init__(self, make_simulator: SimulatorFactory, num_envs: int, seed: SeedLike = None):
        self.make_simulator = make_simulator
        self.sim = make_simulator(num_envs)
        self.num_envs = self.sim.num_envs
        self.possible_agents = list(self.sim.possible_agents)
        self.metadata = dict(self.sim.metadata)
        self._rng = np.random.default_rng(seed_sequence(seed))
        self._needs_reset = True
        self._block = self.num_envs  # sub-envs per block of same episodes (see replicated)

    def single_observation_space(self, agent: str) -> spaces.Space:
        return self.sim.observation_spaces[agent]

    def single_action_space(self, agent: str) -> spaces.Space:
        return self.sim.action_spaces[agent]

    def spawn(self, num_envs: int, seed: SeedLike = None) -> NativeVecEnv:
        return NativeVecEnv(self.make_simulator, num_envs, seed=seed)

    def _replicate(self, copies: int) -> NativeVecEnv | None:
        if not self.sim.replicable:
            return None
        env = self.spawn(self.num_envs * copies)
        env._block = self.num_envs
        return env.for_evaluation() if not self.sim.drives_schedule else env

    def for_evaluation(self) -> NativeVecEnv:
        self.sim.drives_schedule = False
        return self

    def episode_metric_names(self) -> frozenset[str]:
        return frozenset(self.sim.episode_metrics())

    def _split(self, stacked: np.ndarray) -> ArrayDict:
        return {a: stacked[:, i] for i, a in enumerate(self.possible_agents)}

    def _per_agent_infos(self, raw: dict) -> dict[str, dict[str, np.ndarray]]:
        return {a: {k: v[:, i] for k, v in raw.items()} for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[ArrayDict, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed_sequence(seed))
        if seed is None or self._block == self.num_envs:
            self.sim.reset_where(np.ones(self.num_envs, bool), self._rng)
        else:  # a replica: every block starts from its own copy of the stream
            for start in range(0, self.num_envs, self._block):
                block = np.zeros(self.num_envs, bool)
                block[start:start + self._block] = True
                self.sim.reset_where(block, np.random.default_rng(seed_sequence(seed)))
        self._needs_reset = False
        obs = self._split(self.sim.observe())
        infos: dict[str, Any] = {a: {} for a in self.possible_agents}
        infos.update(
            active_mask=self._split(self.sim.active()),
            final_mask=np.zeros(self.num_envs, bool),
            final_observation=obs,
            episode={},
        )
        return obs, infos

    def step(self, actions: ArrayDict) -> tuple[ArrayDict, ArrayDict, ArrayDict, ArrayDict, dict]:
        self._check_step(actions)
        rewards, terminated, truncated, raw_infos = self.sim.step(actions, self._rng)
        final_obs_stacked = self.sim.observe()
        done = terminated | truncated
        n_agents = len(self.possible_agents)
        terms = np.broadcast_to(terminated[:, None], (self.num_envs, n_agents))
        truncs = np.broadcast_to((truncated & ~terminated)[:, None], (self.num_envs, n_agents))
        infos: dict[str, Any] = self._per_agent_infos(raw_infos)
        infos["final_mask"] = done
        infos["final_observation"] = self._split(final_obs_stacked)
        infos["episode"] = self.sim.episode_metrics() if done.any() else {}
        if done.any():
            self.sim.reset_where(done, self._rng)
            obs_stacked = self.sim.observe()
        else:
            obs_stacked = final_obs_stacked
        infos["active_mask"] = self._split(self.sim.active())
        return (
            self._split(obs_stacked),
            self._split(rewards.astype(np.float32, copy=False)),
            self._split(terms),
            self._split(truncs),
            infos,
        )

    def render(self, env_index: int = 0) -> np.ndarray | None:
        return self.sim.render(env_index)

    def state_dict(self) -> dict[str, Any]:
        return self.sim.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sim.load_state_dict(state)


class NativeParallelEnv(ParallelEnv):
    """A PettingZoo ``ParallelEnv`` of one sub-env of a :class:`BatchedSimulator` (no auto-reset).

    ``agents`` after ``reset`` are the agents the simulator marks active at the start of the episode
    (all of them unless it pads episodes to a maximum number of agents).
    """

    def __init__(self, make_simulator: SimulatorFactory, render_mode: str | None = None):
        self.sim = make_simulator(1)
        self.possible_agents = list(self.sim.possible_agents)
        self.agents: list[str] = []
        self.metadata = dict(self.sim.metadata)
        supported = self.metadata.get("render_modes", [])
        if render_mode is not None and render_mode not in supported:
            raise EnvError(f"render_mode={render_mode!r}: supported render modes are {supported}")
        self.render_mode = render_mode
        self._rng = np.random.default_rng()
        self.last_episode_metrics: dict[str, float] = {}

    def observation_space(self, agent: str) -> spaces.Space:
        return self.sim.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.sim.action_spaces[agent]

    def _obs(self) -> dict[str, np.ndarray]:
        stacked = self.sim.observe()[0]
        return {a: stacked[i].copy() for i, a in enumerate(self.possible_agents) if a in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.sim.reset_where(np.ones(1, bool), self._rng)
        present = self.sim.active()[0]  # agents absent from this episode (padded traffic) never join it
        self.agents = [a for i, a in enumerate(self.possible_agents) if present[i]]
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict):
        if not self.agents:
            raise EnvError("step() called on a finished episode: call reset() first")
        batched = {}
        for i, agent in enumerate(self.possible_agents):
            space = self.sim.action_spaces[agent]
            action = actions.get(agent)
            if action is None:  # agents that already finished may be omitted
                action = np.zeros(space.shape, space.dtype) if space.shape else 0
            batched[agent] = np.asarray(action)[None]
        rewards, terminated, truncated, raw_infos = self.sim.step(batched, self._rng)
        obs = self._obs()
        agents = self.agents
        rew = {a: float(rewards[0, i]) for i, a in enumerate(self.possible_agents) if a in agents}
        term = {a: bool(terminated[0]) for a in agents}
        trunc = {a: bool(truncated[0] and not terminated[0]) for a in agents}
        infos = {
            a: {k: _scalar(v[0, i]) for k, v in raw_infos.items()}
            for i, a in enumerate(self.possible_agents)
            if a in agents
        }
        if terminated[0] or truncated[0]:
            self.last_episode_metrics = {k: float(v[0]) for k, v in self.sim.episode_metrics().items()}
            self.agents = []
        return obs, rew, term, trunc, infos

    def render(self):
        if self.render_mode is None:
            return None
        return self.sim.render(0)

    def state(self) -> np.ndarray:
        return self.sim.observe()[0].reshape(-1).copy()

    def close(self) -> None:
        pass


def _scalar(value: Any) -> Any:
    """A NumPy scalar as a plain Python value (arrays pass through)."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
