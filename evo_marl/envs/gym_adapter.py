"""Single-agent Gymnasium envs as one-agent PettingZoo ``ParallelEnv``s: the ``"gym"`` env family.

``make_env("gym/CartPole-v1")`` wraps ``gymnasium.make("CartPole-v1")`` in :class:`GymParallelEnv`
(one agent, ``"agent_0"``; ``terminated`` becomes its termination, ``truncated`` its truncation).
``make_vec_env("gym/CartPole-v1", 8, seed=0)`` builds a :class:`GymVecEnv`: the sub-envs run in a
``gymnasium.vector.SyncVectorEnv`` with autoreset disabled and are reset by this class in the step
that ends their episode, seeded exactly as the generic :class:`~evo_marl.envs.vector.SyncParallelVecEnv`
would seed them, so both give the same episodes; it skips the per-agent dictionaries of the generic
wrapper. Any registered Gymnasium id is accepted (the scenario list is open-ended).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

try:
    from gymnasium.vector import AutoresetMode, SyncVectorEnv
except ImportError as err:  # AutoresetMode arrived in gymnasium 1.1; the other env families work with 0.29
    raise ImportError(f"the 'gym' env family needs gymnasium >= 1.1 (found {gym.__version__})") from err

from evo_marl.envs.registry import EnvFamily, register_family
from evo_marl.envs.vector import ArrayDict, VectorEnv, convert_action, episode_seeds, flat_obs_shape
from evo_marl import validation
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike, int_seed, seed_sequence

AGENT = "agent_0"
KNOWN_SCENARIOS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1")


def make_gym(env_id: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make(env_id, **kwargs)`` with an :class:`EnvError` naming the id when it fails."""
    if not isinstance(env_id, str) or not env_id:
        raise EnvError(f"gym env id {env_id!r}: must be a registered Gymnasium id such as 'CartPole-v1'")
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as err:
        raise EnvError(f"gym env id {env_id!r}: gymnasium.make failed ({type(err).__name__}: {err}); "
                       f"use a registered Gymnasium id such as {list(KNOWN_SCENARIOS)}") from err


class GymParallelEnv(ParallelEnv):
    """One Gymnasium env as a PettingZoo ``ParallelEnv`` with the single agent ``"agent_0"``.

    Args:
        env: a Gymnasium env id (made with ``gymnasium.make(env, render_mode=..., **kwargs)``) or an env.
        render_mode: passed to ``gymnasium.make`` for ids.
    """

    def __init__(self, env: str | gym.Env, render_mode: str | None = None, **kwargs: Any):
        if isinstance(env, str):
            env = make_gym(env, render_mode=render_mode, **kwargs)
        if not isinstance(env, gym.Env):
            raise EnvError(f"env={env!r}: must be a Gymnasium env id or a gymnasium.Env")
        self.env = env
        self.render_mode = getattr(env, "render_mode", render_mode)
        self.possible_agents = [AGENT]
        self.agents: list[str] = []
        name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        self.metadata = {**dict(getattr(env, "metadata", {})), "name": f"gym_{name}", "is_parallelizable": True}
        self.observation_spaces = {AGENT: env.observation_space}
        self.action_spaces = {AGENT: env.action_space}

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.agents = [AGENT]
        return {AGENT: obs}, {AGENT: info}

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        if AGENT not in actions:
            raise EnvError(f"actions={actions!r}: must hold an action for {AGENT!r}")
        obs, reward, terminated, truncated, info = self.env.step(actions[AGENT])
        if terminated or truncated:
            self.agents = []
        return {AGENT: obs}, {AGENT: float(reward)}, {AGENT: bool(terminated)}, {AGENT: bool(truncated)}, {AGENT: info}

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


class GymVecEnv(VectorEnv):
    """``num_envs`` copies of a Gymnasium env in a ``SyncVectorEnv``, speaking the evo-marl vector protocol.

    Args:
        env_id: a registered Gymnasium id. num_envs: sub-envs. seed: seed of the auto-reset seed stream.
        **kwargs: passed to ``gymnasium.make``.
    """

    def __init__(self, env_id: str, num_envs: int, seed: SeedLike = None, **kwargs: Any):
        validation.positive_int("num_envs", num_envs, error=EnvError)
        self.env_id, self.kwargs, self.num_envs = env_id, dict(kwargs), int(num_envs)
        first = make_gym(env_id, **kwargs)
        fns = [lambda first=first: first] + [lambda: make_gym(env_id, **kwargs)] * (self.num_envs - 1)
        self.vec = SyncVectorEnv(fns, copy=False, autoreset_mode=AutoresetMode.DISABLED)
        self.possible_agents = [AGENT]
        self.metadata = {**dict(getattr(first, "metadata", {})), "name": f"gym_{env_id}"}
        self._obs_space, self._act_space = first.observation_space, first.action_space
        self._obs_shape = flat_obs_shape(self._obs_space)
        convert_action(self._act_space, self._act_space.sample())  # validates the action space type early
        self._rng = np.random.default_rng(seed_sequence(seed))
        self._block = self.num_envs  # sub-envs per block of same episodes (see replicated)

    def single_observation_space(self, agent: str) -> spaces.Space:
        self._check_agent(agent)
        return self._obs_space

    def single_action_space(self, agent: str) -> spaces.Space:
        self._check_agent(agent)
        return self._act_space

    def _check_agent(self, agent: str) -> None:
        if agent != AGENT:
            raise EnvError(f"agent={agent!r}: gym envs have the single agent {AGENT!r}")

    def spawn(self, num_envs: int, seed: SeedLike = None) -> GymVecEnv:
        return GymVecEnv(self.env_id, num_envs, seed=seed, **self.kwargs)

    def _replicate(self, copies: int) -> GymVecEnv:
        # every sub-env is its own Gymnasium env, seeded at reset: the same seeds replay the same episodes
        env = GymVecEnv(self.env_id, self.num_envs * copies, **self.kwargs)
        env._block = self.num_envs
        return env

    def _encode(self, obs: np.ndarray) -> np.ndarray:
        if isinstance(self._obs_space, spaces.Discrete):
            index = np.asarray(obs, np.int64) - int(self._obs_space.start)
            return np.eye(int(self._obs_space.n), dtype=np.float32)[index]
        return np.array(obs, dtype=np.float32, copy=True).reshape(self.num_envs, *self._obs_shape)

    def _infos(self, final_mask: np.ndarray, final_obs: np.ndarray) -> dict:
        return {AGENT: {}, "active_mask": {AGENT: np.ones(self.num_envs, bool)}, "final_mask": final_mask,
                "final_observation": {AGENT: final_obs}, "episode": {}}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[ArrayDict, dict]:
        if seed is not None:  # the same seeds as SyncParallelVecEnv.reset
            seeds, stream = episode_seeds(seed, self.num_envs, self._block)
            self._rng = np.random.default_rng(stream)
        else:
            seeds = [int_seed(self._rng) for _ in range(self.num_envs)]
        raw, _ = self.vec.reset(seed=seeds, options=options)
        obs = self._encode(raw)
        return {AGENT: obs}, self._infos(np.zeros(self.num_envs, bool), obs)

    def _actions(self, actions: ArrayDict) -> np.ndarray:
        if AGENT not in actions:
            raise EnvError(f"actions has keys {sorted(actions)}: must hold {AGENT!r}")
        act = np.asarray(actions[AGENT])
        space = self._act_space
        if isinstance(space, spaces.Discrete):
            return act.reshape(self.num_envs).astype(np.int64)
        return act.reshape(self.num_envs, *space.shape).astype(space.dtype)

    def step(self, actions: ArrayDict) -> tuple[ArrayDict, ArrayDict, ArrayDict, ArrayDict, dict]:
        raw, rewards, terms, truncs, _ = self.vec.step(self._actions(actions))
        terms, truncs = np.asarray(terms, bool).copy(), np.asarray(truncs, bool).copy()
        final_mask = terms | truncs
        final_obs = self._encode(raw)
        obs = final_obs
        if final_mask.any():  # same-step reset with the seeds SyncParallelVecEnv would draw
            seeds = [int_seed(self._rng) if done else None for done in final_mask]
            raw, _ = self.vec.reset(seed=seeds, options={"reset_mask": final_mask})
            obs = final_obs.copy()
            obs[final_mask] = self._encode(raw)[final_mask]
        return ({AGENT: obs}, {AGENT: np.asarray(rewards, np.float32)}, {AGENT: terms}, {AGENT: truncs},
                self._infos(final_mask, final_obs))

    def close(self) -> None:
        self.vec.close()

    def episode_metric_names(self) -> frozenset[str]:
        return frozenset()


def parallel_env(scenario: str, render_mode: str | None = None, **kwargs: Any) -> GymParallelEnv:
    """``gym/<scenario>`` as a one-agent PettingZoo ``ParallelEnv``."""
    return GymParallelEnv(scenario, render_mode=render_mode, **kwargs)


def vec_env(scenario: str, num_envs: int, seed: SeedLike = None, **kwargs: Any) -> GymVecEnv:
    """``gym/<scenario>`` as a batched :class:`GymVecEnv`."""
    return GymVecEnv(scenario, num_envs, seed=seed, **kwargs)


register_family(EnvFamily("gym", parallel_env, lambda: list(KNOWN_SCENARIOS), make_vec_env=vec_env, open_ended=True))
