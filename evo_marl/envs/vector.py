"""The batched multi-agent environment protocol, and a sync wrapper for any PettingZoo ``ParallelEnv``.

A :class:`VectorEnv` runs ``num_envs`` copies of one multi-agent env and speaks in dictionaries
``agent -> array[num_envs, ...]`` (the AgileRL / PettingZoo vector shape), so the documented
custom training loop works unchanged:

* ``reset(seed=None, options=None) -> (obs, infos)``
* ``step(actions) -> (obs, rewards, terminations, truncations, infos)``

Array conventions (``N = num_envs``):

* ``obs[agent]``: ``float32[N, *obs_shape]``; ``rewards[agent]``: ``float32[N]``;
  ``terminations[agent]`` / ``truncations[agent]``: ``bool[N]``.
* ``actions[agent]``: ``[N, *shape]`` floats for ``Box``, ``int[N]`` for ``Discrete``,
  ``int[N, k]`` for ``MultiDiscrete``.

Finished sub-envs are reset inside the same ``step``. The returned ``infos`` always hold:

* ``infos["final_mask"]``: ``bool[N]``, the sub-envs whose episode ended in this step (and were reset);
* ``infos["final_observation"]``: ``agent -> array[N, ...]``, the true next observation of this step
  (it equals ``obs`` except where ``final_mask``), so learners never bootstrap from the next episode;
* ``infos["active_mask"]``: ``agent -> bool[N]``, the agents that must act on the returned ``obs``
  (agents that left an episode early are masked explicitly, never by NaN sentinels);
* ``infos["episode"]``: ``metric -> float64[N]``, env-specific episode metrics, valid where ``final_mask``;
* ``infos[agent]``: ``key -> array[N, ...]``, env-specific per-agent infos (e.g. ``action_mask``).

Only when a sub-env's own ``step`` raised (:class:`SyncParallelVecEnv` steps each one separately),
``infos["step_errors"]`` maps its position to the error text; that sub-env was reset (``final_mask`` and
truncation set, reward 0) and the trainers drop its transition and rank its member last.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from evo_marl import validation
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike, int_seed, seed_sequence

ArrayDict = dict[str, np.ndarray]
RESERVED_INFO_KEYS = ("final_mask", "final_observation", "active_mask", "episode", "step_errors")


class VectorEnv(ABC):
    """Abstract batched multi-agent environment (see the module docstring for the contract)."""

    possible_agents: list[str]
    num_envs: int
    metadata: dict[str, Any] = {}
    _needs_reset: bool = False  # envs that must be reset before their first step set it until they are

    @property
    def agents(self) -> list[str]:
        """All agent ids; agents never leave a vector env (inactive ones are masked instead)."""
        return list(self.possible_agents)

    @property
    def num_agents(self) -> int:
        return len(self.possible_agents)

    @abstractmethod
    def single_observation_space(self, agent: str) -> spaces.Space:
        """The observation space of one sub-env for ``agent`` (the same object on every call)."""

    @abstractmethod
    def single_action_space(self, agent: str) -> spaces.Space:
        """The action space of one sub-env for ``agent`` (the same object on every call)."""

    @abstractmethod
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[ArrayDict, dict]:
        """Reset every sub-env; ``seed`` makes the whole sequence of episodes reproducible."""

    @abstractmethod
    def step(self, actions: ArrayDict) -> tuple[ArrayDict, ArrayDict, ArrayDict, ArrayDict, dict]:
        """Step every sub-env once with ``actions[agent]`` shaped ``[num_envs, ...]``."""

    @abstractmethod
    def spawn(self, num_envs: int, seed: SeedLike = None) -> VectorEnv:
        """A new vector env of the same kind (same scenario and settings) with ``num_envs`` sub-envs."""

    def replicated(self, copies: int) -> VectorEnv | None:
        """This env ``copies`` times over, for playing several policies on the same episodes in one env.

        The returned env has ``copies * num_envs`` sub-envs; its ``reset(seed)`` starts every block of
        ``num_envs`` consecutive sub-envs in exactly the episodes this env starts with ``reset(seed)``, and
        those episodes unfold exactly as here under the same actions. None where the env cannot promise
        that (its transitions draw from one random stream shared by all sub-envs). Made once per ``copies``.
        """
        cache = self.__dict__.setdefault("_replicas", {})
        if copies not in cache:
            cache[copies] = self._replicate(copies) if copies > 1 else None
        return cache[copies]

    def _replicate(self, copies: int) -> VectorEnv | None:
        """Hook of :meth:`replicated` (default: not replicable)."""
        return None

    def _check_step(self, actions: ArrayDict) -> None:
        """EnvError unless the env was reset (``self._needs_reset`` False) and ``actions`` names every agent."""
        if self._needs_reset:
            raise EnvError("step() was called before reset(): call reset() first")
        missing = [a for a in self.possible_agents if a not in actions]
        if missing:
            raise EnvError(f"actions: missing agents {missing}; expected one array per agent in {self.possible_agents}")

    # Convenience aliases so code written for PettingZoo's single envs also works.
    def observation_space(self, agent: str) -> spaces.Space:
        return self.single_observation_space(agent)

    def action_space(self, agent: str) -> spaces.Space:
        return self.single_action_space(agent)

    def close(self) -> None:
        """Release resources (nothing to release for NumPy envs)."""

    def for_evaluation(self) -> VectorEnv:
        """Mark this env as one that only plays evaluation episodes and return it: its steps then advance
        nothing its training envs count (e.g. the clock a curriculum's schedule reads, which only training
        moves on). Nothing to do for envs without such shared state."""
        return self

    def episode_metric_names(self) -> frozenset[str] | None:
        """The episode metrics this env reports when an episode ends (``infos["episode"]``), or None where that
        is not known before one ends. Lets a run refuse a ``fitness_metric`` the env lacks before training."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run must carry over besides its episodes, which start afresh (e.g. the step count
        a curriculum reads): JSON-serialisable, empty by default. Trainers checkpoint it where not empty."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (a resumed run)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_envs={self.num_envs}, agents={self.possible_agents})"


def episode_seeds(seed: int, num_envs: int, block: int | None = None) -> tuple[list[int], np.random.SeedSequence]:
    """Reset seeds of ``num_envs`` sub-envs for ``reset(seed=seed)``, and the seed of the auto-reset stream.

    With ``block``, each block of ``block`` consecutive sub-envs gets the seeds a ``block``-env would get
    (see :meth:`VectorEnv.replicated`).
    """
    block = block or num_envs
    children = np.random.SeedSequence(seed).spawn(block + 1)
    seeds = [int(c.generate_state(1)[0] & 0x7FFFFFFF) for c in children[:-1]]
    return seeds * (num_envs // block), children[-1]


def reset_seeds(seed: int | None, rng: np.random.Generator, num_envs: int, block: int | None = None
                ) -> tuple[list[int], np.random.Generator]:
    """The reset seed of every sub-env for ``reset(seed)`` and the auto-reset stream from then on: with a seed,
    :func:`episode_seeds` and a fresh stream; without one, seeds drawn from ``rng``, which goes on."""
    if seed is None:
        return [int_seed(rng) for _ in range(num_envs)], rng
    seeds, stream = episode_seeds(seed, num_envs, block)
    return seeds, np.random.default_rng(stream)


def convert_action(space: spaces.Space, action: np.ndarray) -> Any:
    """One sub-env's action row in the form a PettingZoo env expects for ``space``."""
    if isinstance(space, spaces.Discrete):
        return int(np.asarray(action).reshape(-1)[0]) if np.ndim(action) else int(action)
    if isinstance(space, spaces.MultiDiscrete):
        return np.asarray(action, dtype=space.dtype).reshape(space.shape)
    if isinstance(space, spaces.Box):
        return np.asarray(action, dtype=space.dtype).reshape(space.shape)
    raise EnvError(f"action space {space!r}: only Box, Discrete and MultiDiscrete actions are supported")


def flat_obs_shape(space: spaces.Space) -> tuple[int, ...]:
    """The array shape one observation of ``space`` is stored in."""
    if isinstance(space, spaces.Box):
        return tuple(space.shape)
    if isinstance(space, spaces.Discrete):
        return (int(space.n),)  # one-hot encoded
    raise EnvError(f"observation space {space!r}: only Box and Discrete observations are supported")


def encode_obs(space: spaces.Space, value: Any) -> np.ndarray:
    """One observation as a float32 array (Discrete observations one-hot encoded)."""
    if isinstance(space, spaces.Discrete):
        one_hot = np.zeros(int(space.n), dtype=np.float32)
        one_hot[int(value) - int(space.start)] = 1.0
        return one_hot
    return np.asarray(value, dtype=np.float32).reshape(space.shape)


class SyncParallelVecEnv(VectorEnv):
    """Runs ``num_envs`` copies of any PettingZoo ``ParallelEnv`` in this process, one after another.

    Agents that leave an episode early get zero observations, zero rewards and ``active_mask`` False
    until their sub-env is reset. Observations of ``Discrete`` spaces are one-hot encoded.

    Args:
        env_fn: zero-argument factory returning a fresh ``ParallelEnv``.
        num_envs: number of sub-envs.
        seed: seed of the stream that seeds sub-envs on automatic resets (``reset(seed=...)`` re-seeds).
    """

    def __init__(self, env_fn: Callable[[], ParallelEnv], num_envs: int, seed: SeedLike = None):
        if not callable(env_fn):
            raise EnvError(f"env_fn={env_fn!r}: must be a zero-argument callable returning a PettingZoo ParallelEnv")
        validation.positive_int("num_envs", num_envs, error=EnvError)
        self.env_fn = env_fn
        self.num_envs = int(num_envs)
        self.envs = [env_fn() for _ in range(self.num_envs)]
        first = self.envs[0]
        if not isinstance(first, ParallelEnv) and not hasattr(first, "possible_agents"):
            raise EnvError(f"env_fn returned {type(first).__name__}: must return a PettingZoo ParallelEnv")
        self.possible_agents = list(first.possible_agents)
        self.metadata = dict(getattr(first, "metadata", {}))
        self._obs_spaces = {a: first.observation_space(a) for a in self.possible_agents}
        self._act_spaces = {a: first.action_space(a) for a in self.possible_agents}
        for agent, space in self._act_spaces.items():
            convert_action(space, space.sample())  # validates the space type early
        self._obs_shapes = {a: flat_obs_shape(s) for a, s in self._obs_spaces.items()}
        self._rng = np.random.default_rng(seed_sequence(seed))
        self._block = self.num_envs  # sub-envs per block of same episodes (see replicated)

    def single_observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def single_action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def spawn(self, num_envs: int, seed: SeedLike = None) -> SyncParallelVecEnv:
        return SyncParallelVecEnv(self.env_fn, num_envs, seed=seed)

    def _replicate(self, copies: int) -> SyncParallelVecEnv:
        # every sub-env is its own PettingZoo env, seeded at reset: the same seeds replay the same episodes
        env = SyncParallelVecEnv(self.env_fn, self.num_envs * copies)
        env._block = self.num_envs
        return env

    def _empty(self) -> tuple[ArrayDict, ArrayDict]:
        obs = {a: np.zeros((self.num_envs, *shape), np.float32) for a, shape in self._obs_shapes.items()}
        active = {a: np.zeros(self.num_envs, bool) for a in self.possible_agents}
        return obs, active

    def _write_obs(self, i: int, env_obs: dict, obs: ArrayDict, active: ArrayDict, env: ParallelEnv) -> None:
        for agent in self.possible_agents:
            if agent in env_obs:
                obs[agent][i] = encode_obs(self._obs_spaces[agent], env_obs[agent])
            active[agent][i] = agent in env.agents

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[ArrayDict, dict]:
        seeds, self._rng = reset_seeds(seed, self._rng, self.num_envs, self._block)
        obs, active = self._empty()
        per_agent: dict[str, dict[str, list]] = {a: {} for a in self.possible_agents}
        for i, env in enumerate(self.envs):
            env_obs, env_infos = env.reset(seed=seeds[i], options=options)
            self._write_obs(i, env_obs, obs, active, env)
            self._collect_infos(i, env_infos, per_agent)
        infos = self._infos(per_agent, active, np.zeros(self.num_envs, bool), obs)
        return obs, infos

    def _collect_infos(self, i: int, env_infos: dict, per_agent: dict[str, dict[str, list]]) -> None:
        """Keep only per-agent ``action_mask`` entries (the one info key that algorithms use)."""
        for agent, info in (env_infos or {}).items():
            if isinstance(info, dict) and "action_mask" in info and agent in per_agent:
                per_agent[agent].setdefault("action_mask", [None] * self.num_envs)[i] = np.asarray(info["action_mask"])

    def _infos(self, per_agent, active, final_mask, final_obs) -> dict:
        infos: dict[str, Any] = {}
        for agent, entries in per_agent.items():
            stacked = {}
            for key, rows in entries.items():
                if all(r is not None for r in rows):
                    stacked[key] = np.stack(rows)
            infos[agent] = stacked
        infos["active_mask"] = active
        infos["final_mask"] = final_mask
        infos["final_observation"] = final_obs
        infos["episode"] = {}
        return infos

    def step(self, actions: ArrayDict) -> tuple[ArrayDict, ArrayDict, ArrayDict, ArrayDict, dict]:
        n = self.num_envs
        obs, active = self._empty()
        final_obs = {a: np.zeros_like(v) for a, v in obs.items()}
        rewards = {a: np.zeros(n, np.float32) for a in self.possible_agents}
        terms = {a: np.zeros(n, bool) for a in self.possible_agents}
        truncs = {a: np.zeros(n, bool) for a in self.possible_agents}
        final_mask = np.zeros(n, bool)
        per_agent: dict[str, dict[str, list]] = {a: {} for a in self.possible_agents}
        errors: dict[int, str] = {}
        for i, env in enumerate(self.envs):
            env_actions = {
                a: convert_action(self._act_spaces[a], np.asarray(actions[a])[i]) for a in env.agents
            }
            try:
                env_obs, env_rew, env_term, env_trunc, env_infos = env.step(env_actions)
            except Exception as err:  # one sub-env's failure is reported in infos, the others step on
                errors[i] = f"{type(err).__name__}: {err}"
                self._reset_failed(i, env, err, obs, active, final_mask, truncs, per_agent)
                continue
            for agent in self.possible_agents:
                if agent in env_rew:
                    rewards[agent][i] = env_rew[agent]
                    terms[agent][i] = bool(env_term.get(agent, False))
                    truncs[agent][i] = bool(env_trunc.get(agent, False))
                else:  # already gone from this episode
                    terms[agent][i] = True
            self._write_obs(i, env_obs, final_obs, active, env)
            episode_over = not env.agents or all(
                env_term.get(a, False) or env_trunc.get(a, False) for a in env.agents
            )
            if episode_over:
                final_mask[i] = True
                env_obs, env_infos = env.reset(seed=int_seed(self._rng))
                for agent in self.possible_agents:
                    if not (terms[agent][i] or truncs[agent][i]):
                        truncs[agent][i] = True
                self._write_obs(i, env_obs, obs, active, env)
            else:
                for agent in self.possible_agents:
                    obs[agent][i] = final_obs[agent][i]
            self._collect_infos(i, env_infos, per_agent)
        infos = self._infos(per_agent, active, final_mask, final_obs)
        if errors:
            infos["step_errors"] = errors
        return obs, rewards, terms, truncs, infos

    def _reset_failed(self, i: int, env: ParallelEnv, err: Exception, obs: ArrayDict, active: ArrayDict,
                      final_mask: np.ndarray, truncs: ArrayDict, per_agent: dict) -> None:
        """Sub-env ``i`` raised in ``step``: end its episode (truncated, zero reward) and reset it.

        Raises:
            EnvError: the reset raised too (the sub-env cannot go on).
        """
        try:
            env_obs, env_infos = env.reset(seed=int_seed(self._rng))
        except Exception as reset_err:
            raise EnvError(f"sub-env {i}: step raised {type(err).__name__}: {err}, and the reset after it raised "
                           f"{type(reset_err).__name__}: {reset_err}") from reset_err
        final_mask[i] = True
        for agent in self.possible_agents:
            truncs[agent][i] = True
        self._write_obs(i, env_obs, obs, active, env)
        self._collect_infos(i, env_infos, per_agent)

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def episode_metric_names(self) -> frozenset[str]:
        return frozenset()  # PettingZoo envs have no episode metrics of the vector protocol


class AsyncPettingZooVecEnv(SyncParallelVecEnv):
    """AgileRL-compatible constructor ``AsyncPettingZooVecEnv([env_fn] * num_envs)`` — synchronous, despite the
    name: it is :class:`SyncParallelVecEnv`, stepping the sub-envs one after another in this process (a
    batched NumPy env, or this wrapper, is faster than subprocess pipes for the small envs MARL research
    uses). The name only keeps code ported from AgileRL working.
    """

    def __init__(self, env_fns: list[Callable[[], ParallelEnv]], seed: SeedLike = None):
        if not env_fns:
            raise EnvError("env_fns=[]: needs at least one environment factory")
        super().__init__(env_fns[0], len(env_fns), seed=seed)
