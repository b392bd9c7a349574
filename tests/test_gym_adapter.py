"""The "gym" env family: one-agent PettingZoo adapter and the batched SyncVectorEnv path."""

from __future__ import annotations

import gymnasium.vector
import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

if not hasattr(gymnasium.vector, "AutoresetMode"):  # tests/test_pettingzoo_compat.py checks the error instead
    pytest.skip("the gym env family needs gymnasium >= 1.1", allow_module_level=True)

from evo_marl import EnvError, list_envs, make_env, make_vec_env  # noqa: E402
from evo_marl.envs.gym_adapter import AGENT, GymParallelEnv, GymVecEnv  # noqa: E402
from evo_marl.envs.vector import SyncParallelVecEnv  # noqa: E402


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "FrozenLake-v1"])
def test_adapter_passes_the_pettingzoo_parallel_api_test(env_id):
    env = make_env(f"gym/{env_id}")
    assert isinstance(env, GymParallelEnv) and env.possible_agents == [AGENT]
    parallel_api_test(env, num_cycles=100)
    assert env.observation_space(AGENT) is env.observation_space(AGENT)


def test_terminated_maps_to_termination_and_truncated_to_truncation():
    env = make_env("gym/CartPole-v1", max_episode_steps=5)
    env.reset(seed=0)
    for _ in range(5):  # alternating pushes keep the pole up: the 5-step limit truncates
        _, _, term, trunc, _ = env.step({AGENT: _ % 2})
    assert trunc == {AGENT: True} and term == {AGENT: False} and env.agents == []
    env = make_env("gym/CartPole-v1")
    env.reset(seed=0)
    for _ in range(200):  # always pushing right topples the pole: a termination
        _, _, term, trunc, _ = env.step({AGENT: 1})
        if term[AGENT] or trunc[AGENT]:
            break
    assert term == {AGENT: True} and trunc == {AGENT: False}


def test_same_seed_gives_the_same_episodes():
    def rollout():
        env = make_env("gym/CartPole-v1")
        obs, _ = env.reset(seed=3)
        seq = [obs[AGENT]]
        for t in range(50):
            obs, _, term, trunc, _ = env.step({AGENT: t % 2})
            seq.append(obs[AGENT])
            if not env.agents:
                obs, _ = env.reset()
                seq.append(obs[AGENT])
        return np.array(seq)
    np.testing.assert_array_equal(rollout(), rollout())


@pytest.mark.parametrize("env_id,num_envs", [("CartPole-v1", 8), ("Pendulum-v1", 3), ("FrozenLake-v1", 4)])
def test_batched_path_gives_exactly_the_generic_wrappers_episodes(env_id, num_envs):
    fast = make_vec_env(f"gym/{env_id}", num_envs, seed=0)
    generic = SyncParallelVecEnv(lambda: GymParallelEnv(env_id), num_envs, seed=0)
    assert isinstance(fast, GymVecEnv)
    o1, _ = fast.reset(seed=5)
    o2, _ = generic.reset(seed=5)
    np.testing.assert_array_equal(o1[AGENT], o2[AGENT])
    space = fast.single_action_space(AGENT)
    space.seed(0)
    ended = 0
    for _ in range(300):
        actions = {AGENT: np.stack([space.sample() for _ in range(num_envs)])}
        out_fast, out_generic = fast.step(actions), generic.step(actions)
        for a, b in zip(out_fast[:4], out_generic[:4]):
            np.testing.assert_array_equal(a[AGENT], b[AGENT])
        np.testing.assert_array_equal(out_fast[4]["final_mask"], out_generic[4]["final_mask"])
        np.testing.assert_array_equal(out_fast[4]["final_observation"][AGENT],
                                      out_generic[4]["final_observation"][AGENT])
        ended += int(out_fast[4]["final_mask"].sum())
    assert ended > 0, "the comparison must cover automatic resets"


def test_batched_path_resets_in_the_same_step_and_keeps_the_final_observation():
    env = make_vec_env("gym/CartPole-v1", 4, seed=0)
    env.reset(seed=1)
    for _ in range(200):
        obs, _, term, trunc, infos = env.step({AGENT: np.ones(4, np.int64)})
        if infos["final_mask"].any():
            break
    done = infos["final_mask"]
    assert (done == (term[AGENT] | trunc[AGENT])).all() and term[AGENT][done].all()
    final = infos["final_observation"][AGENT]
    assert (np.abs(final[done, 2]) > 0.2).all(), "the final observation has the toppled pole angle"
    assert (np.abs(obs[AGENT][done]) <= 0.05).all(), "the returned observation is a fresh reset"
    np.testing.assert_array_equal(obs[AGENT][~done], final[~done])
    assert env.spawn(2).num_envs == 2


def test_discrete_observations_are_one_hot():
    env = make_vec_env("gym/FrozenLake-v1", 2, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs[AGENT].shape == (2, 16) and (obs[AGENT].sum(axis=1) == 1).all()


def test_family_is_open_ended_and_bad_ids_fail_clearly():
    assert "gym/CartPole-v1" in list_envs("gym")
    assert make_env("gym/Acrobot-v1").possible_agents == [AGENT]  # any registered id, not only the listed ones
    with pytest.raises(EnvError, match=r"gym env id 'NoSuchEnv-v0': gymnasium.make failed"):
        make_env("gym/NoSuchEnv-v0")
    with pytest.raises(EnvError, match=r"gym env id 'NoSuchEnv-v0'"):
        make_vec_env("gym/NoSuchEnv-v0", 2)
    with pytest.raises(EnvError, match=r"num_envs=0: must be an integer >= 1"):
        GymVecEnv("CartPole-v1", 0)
    with pytest.raises(EnvError, match=r"agent='agent_1': gym envs have the single agent 'agent_0'"):
        make_vec_env("gym/CartPole-v1", 1).single_action_space("agent_1")
