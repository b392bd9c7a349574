"""Environments: the batched protocol, the registry and the built-in scenario families."""

from evo_marl.envs.registry import EnvFamily, list_envs, make_env, make_vec_env, register_family
from evo_marl.envs.vector import AsyncPettingZooVecEnv, SyncParallelVecEnv, VectorEnv

__all__ = ["AsyncPettingZooVecEnv", "EnvFamily", "SyncParallelVecEnv", "VectorEnv", "list_envs", "make_env", "make_vec_env", "register_family"]
