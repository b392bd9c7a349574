"""Bad input gets a clear error naming field, value and rule; failing members never stop a run."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv

from evo_marl import (CheckpointError, ConfigError, EnvError, MultiAgentReplayBuffer, SpaceError, create_population,
                      make_vec_env, train_multi_agent_off_policy)
from evo_marl.training.checkpoint import generation_dirs
from conftest import make_tiny_population

BOX = spaces.Box(-1, 1, (2,), np.float32)


def test_unknown_init_hp_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match=r"INIT_HP.LR_ACTR.*did you mean 'LR_ACTOR'"):
        create_population("MATD3", [BOX], [BOX], None, {"LR_ACTR": 1e-3})


def test_hyperparameter_out_of_range_names_field_value_rule():
    with pytest.raises(ConfigError, match=r"INIT_HP.gamma=1.5: must be a finite number in \[0, 1\]"):
        create_population("MADDPG", [BOX], [BOX], None, {"GAMMA": 1.5})


def test_unknown_algorithm_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"algo='PPO'.*\['IPPO', 'MADDPG', 'MATD3'\]"):
        create_population("PPO", [BOX], [BOX])


def test_unsupported_action_space_is_named():
    with pytest.raises(SpaceError, match=r"action_space\[agent_0\].*Box, Discrete or MultiDiscrete"):
        create_population("MATD3", [BOX], [spaces.MultiBinary(3)])


def test_unbounded_box_action_space_is_rejected():
    with pytest.raises(SpaceError, match="finite low and high"):
        create_population("MATD3", [BOX], [spaces.Box(-np.inf, np.inf, (2,))])


def test_net_config_errors_name_the_option():
    with pytest.raises(ConfigError, match=r"net_config.hiden_size"):
        create_population("MATD3", [BOX], [BOX], {"hiden_size": [32]})
    with pytest.raises(ConfigError, match=r"net_config.hidden_size=\[32, -1\]: must be a non-empty list of positive"):
        create_population("MATD3", [BOX], [BOX], {"hidden_size": [32, -1]})


def test_env_with_wrong_number_of_sub_envs(tmp_path):
    env, pop, memory, hp = make_tiny_population("MATD3", pop_size=2, num_envs=4)
    with pytest.raises(ConfigError, match=r"env.num_envs=3: must be num_envs \(4"):
        train_multi_agent_off_policy(env.spawn(3), "tiny", "MATD3", pop, memory, max_steps=100, evo_steps=100,
                                     run_dir=tmp_path)


def test_unknown_env_id_lists_valid_scenarios():
    with pytest.raises(EnvError, match=r"unknown scenario 'nope'.*coop_box"):
        make_vec_env("tiny/nope", 2)
    with pytest.raises(EnvError, match="valid families"):
        make_vec_env("nofamily/x", 2)


class NaNEnv(ParallelEnv):
    """One agent; reward becomes NaN on the 3rd step of every episode when ``poison`` is set."""

    metadata = {"name": "nan_env"}

    def __init__(self, poison: bool):
        self.possible_agents = ["a"]
        self.poison = poison
        self._obs, self._act = spaces.Box(-1, 1, (2,), np.float32), spaces.Box(-1, 1, (1,), np.float32)

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return self._act

    def reset(self, seed=None, options=None):
        self.agents, self.t = ["a"], 0
        return {"a": np.zeros(2, np.float32)}, {"a": {}}

    def step(self, actions):
        self.t += 1
        reward = float("nan") if self.poison and self.t == 3 else -float(np.abs(actions["a"]).sum())
        done = self.t >= 5
        if done:
            self.agents = []
        return {"a": np.zeros(2, np.float32)}, {"a": reward}, {"a": False}, {"a": done}, {"a": {}}


def test_non_finite_reward_ranks_member_last_and_training_goes_on(tmp_path, caplog):
    from evo_marl.envs.vector import SyncParallelVecEnv

    # sub-envs 0-1 belong to member 0 and are poisoned; member 1's envs are clean
    factories = iter([True, True, False, False] + [False] * 100)
    env = SyncParallelVecEnv(lambda: NaNEnv(next(factories)), 4)
    pop = create_population("MATD3", [env.single_observation_space("a")], [env.single_action_space("a")],
                            {"hidden_size": [16]}, {"AGENT_IDS": ["a"], "BATCH_SIZE": 16}, population_size=2,
                            num_envs=2, seed=0)
    memory = MultiAgentReplayBuffer(1000, ["obs", "action", "reward", "next_obs", "termination"], ["a"])
    eval_env = SyncParallelVecEnv(lambda: NaNEnv(False), 1)
    pop, history = train_multi_agent_off_policy(env, "nan", "MATD3", pop, memory, max_steps=40, evo_steps=20,
                                                eval_steps=10, run_dir=tmp_path, verbose=False, seed=0,
                                                tournament=None)
    assert len(history) == 2, "training must go on after the non-finite reward"
    assert np.isnan(history[0][0]) and np.isfinite(history[0][1])
    assert "non-finite reward or observation" in caplog.text
    assert np.isfinite(np.concatenate([memory.sample(len(memory)).reward["a"].numpy()])).all()
    del eval_env


def _train(tmp_path, pop_size=2, resume=False, run="run"):
    env, pop, memory, hp = make_tiny_population("MATD3", pop_size=pop_size, num_envs=2)
    return train_multi_agent_off_policy(env, "tiny", "MATD3", pop, memory, max_steps=40, evo_steps=20,
                                        run_dir=tmp_path / run, resume=resume, verbose=False, seed=0)


def test_checkpoint_from_another_config_is_refused(tmp_path):
    _train(tmp_path)
    with pytest.raises(CheckpointError, match=r"another configuration: population_size was 2, now 3"):
        _train(tmp_path, pop_size=3, resume=True)


def test_corrupt_checkpoint_names_the_file(tmp_path):
    _train(tmp_path)
    latest = generation_dirs(tmp_path / "run")[-1]
    (latest / "member_1.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"member_1.pt: unreadable or not a weights-only checkpoint"):
        _train(tmp_path, resume=True)
    for folder in generation_dirs(tmp_path / "run"):
        (folder / "manifest.json").write_text("{broken")
    with pytest.raises(CheckpointError, match=r"no complete generation folder to resume from .*manifest.json: "
                                              r"corrupt JSON"):
        _train(tmp_path, resume=True)


def test_existing_run_dir_is_never_overwritten_silently(tmp_path):
    _train(tmp_path)
    with pytest.raises(ConfigError, match=r"run_dir=.*already holds a run \(generation_00001/"):
        _train(tmp_path)
