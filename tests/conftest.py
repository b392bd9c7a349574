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


def run_curriculum_experiment(root, name: str, max_steps: int, resume: bool = False, **training) -> list[dict]:
    """A tiny IPPO run on an ATC curriculum (2 aircraft, then 4 from vector step 40 on); its generations.csv rows."""
    import csv

    from evo_marl.config import load_config
    from evo_marl.experiment import run_experiment

    config = load_config({
        "name": name, "algo": "IPPO", "population_size": 2, "seed": 3,
        "env": {"id": "atc/mix", "num_envs": 4, "kwargs": {
            "traffic": [{"scenario": "random", "num_aircraft": [2, 4]}],
            "schedule": [{"steps": 0, "num_aircraft": [2, 2]}, {"steps": 40, "num_aircraft": [4, 4]}]}},
        "net_config": {"hidden_size": [16]},
        "init_hp": {"LEARN_STEP": 64, "BATCH_SIZE": 32, "SHARE_PARAMS": True},
        "training": {"max_steps": max_steps, "evo_steps": 128, "eval_loop": 2, **training},
        "ray": {"num_workers": 2}, "output": {"root": str(root), "plots": False}})
    run_experiment(config, resume=resume, verbose=False)
    with open(config.run_dir / "generations.csv", newline="") as f:
        return list(csv.DictReader(f))


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
