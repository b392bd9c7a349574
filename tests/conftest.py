"""Shared test set-up: single-threaded torch (tests run two at a time on two cores) and small helpers."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(1)


def make_tiny_population(algo: str, scenario: str = "coop_box", pop_size: int = 2, num_envs: int = 4,
                         seed: int = 0, **init_hp):
    """A small population for ``tiny/<scenario>`` with its env and a shared buffer."""
    from evo_marl import MultiAgentReplayBuffer, create_population, make_vec_env

    env = make_vec_env(f"tiny/{scenario}", num_envs=num_envs, seed=seed)
    hp = {"BATCH_SIZE": 64, "LEARN_STEP": 8, "GAMMA": 0.9, "AGENT_IDS": env.agents, **init_hp}
    pop = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [32, 32]}, hp,
                            population_size=pop_size, num_envs=num_envs, seed=seed)
    memory = MultiAgentReplayBuffer(50_000, ["obs", "action", "reward", "next_obs", "termination", "active"],
                                    agent_ids=env.agents)
    return env, pop, memory, hp


@pytest.fixture
def tiny_population():
    return make_tiny_population


class RaisingEnv(ParallelEnv):
    """One agent, 4-step episodes; ``step`` raises when ``fail`` is set (a buggy custom env)."""

    metadata = {"name": "raising_env"}

    def __init__(self, fail: bool):
        self.possible_agents, self.fail = ["a"], fail

    def observation_space(self, agent):
        return spaces.Box(-1, 1, (2,), np.float32)

    def action_space(self, agent):
        return spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, seed=None, options=None):
        self.agents, self.t = ["a"], 0
        return {"a": np.zeros(2, np.float32)}, {"a": {}}

    def step(self, actions):
        self.t += 1
        if self.fail and self.t == 2:
            raise ValueError("custom env bug")
        done = self.t >= 4
        self.agents = [] if done else ["a"]
        return ({"a": np.zeros(2, np.float32)}, {"a": -float(np.abs(actions["a"]).sum())}, {"a": False},
                {"a": done}, {"a": {}})
