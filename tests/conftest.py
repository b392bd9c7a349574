"""Shared test set-up: single-threaded torch (tests run two at a time on two cores) and small helpers."""

from __future__ import annotations

import os

import pytest
import torch

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
