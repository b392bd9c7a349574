"""The batched mpe2 ports return exactly what mpe2's own env returns in SyncParallelVecEnv, step for step."""

from __future__ import annotations

import numpy as np
import torch
import pytest

pytest.importorskip("mpe2")

from evo_marl import make_vec_env  # noqa: E402
from evo_marl.envs.mpe import parallel_env  # noqa: E402
from evo_marl.envs.mpe_batched import PORTS, SpeakerListenerVecEnv, SpreadVecEnv  # noqa: E402
from evo_marl.envs.vector import SyncParallelVecEnv  # noqa: E402
from evo_marl.errors import ConfigError, EnvError  # noqa: E402


def _actions(env, rng) -> dict:
    out = {}
    for agent in env.agents:
        space = env.single_action_space(agent)
        if hasattr(space, "n"):
            out[agent] = rng.integers(space.n, size=env.num_envs)
        else:  # a third of them outside [0, 1] (both must clip them the same way), a fifth all zero (silence)
            action = rng.uniform(-0.3, 1.3, (env.num_envs, *space.shape)).astype(np.float32)
            action[rng.random(env.num_envs) < 0.2] = 0.0
            out[agent] = action
    return out


def _assert_same(got, want) -> None:
    for part, (a, b) in enumerate(zip(got[:-1], want[:-1])):  # obs (reset), or obs, rewards, ends (step)
        assert a.keys() == b.keys(), part
        for agent in b:
            assert a[agent].dtype == b[agent].dtype, (part, agent)
            np.testing.assert_array_equal(a[agent], b[agent], err_msg=f"part {part}, agent {agent}")
    got_info, want_info = got[-1], want[-1]
    np.testing.assert_array_equal(got_info["final_mask"], want_info["final_mask"])
    for key in ("final_observation", "active_mask"):
        for agent in want_info[key]:
            np.testing.assert_array_equal(got_info[key][agent], want_info[key][agent], err_msg=key)


CASES = [("simple_v3", {}), ("simple_speaker_listener_v4", {}), ("simple_reference_v3", {}),
         ("simple_reference_v3", {"local_ratio": 0.9}), ("simple_spread_v3", {}),
         ("simple_spread_v3", {"N": 4, "local_ratio": 0.2}), ("simple_spread_v3", {"N": 1, "local_ratio": 1.0}),
         ("simple_tag_v3", {}), ("simple_tag_v3", {"num_good": 2, "num_adversaries": 4, "num_obstacles": 3}),
         ("simple_adversary_v3", {}), ("simple_adversary_v3", {"N": 3}), ("simple_push_v3", {}),
         ("simple_crypto_v3", {}), ("simple_world_comm_v3", {}),
         ("simple_world_comm_v3", {"num_good": 3, "num_adversaries": 2, "num_obstacles": 2, "num_food": 3,
                                   "num_forests": 1})]


@pytest.mark.parametrize("task, extra", CASES)
@pytest.mark.parametrize("continuous", [True, False])
def test_port_equals_mpe2_step_for_step(task, extra, continuous):
    num_envs = 48 if task == "simple_push_v3" else 6  # push: two small bodies, enough episodes for them to touch
    options = dict(continuous_actions=continuous, max_cycles=7, **extra)
    want_env = SyncParallelVecEnv(lambda: parallel_env(task, **options), num_envs, seed=11)
    got_env = PORTS[task](num_envs, seed=11, **options)
    for agent in want_env.agents:
        assert got_env.single_observation_space(agent) == want_env.single_observation_space(agent)
        assert got_env.single_action_space(agent) == want_env.single_action_space(agent)
    rng = np.random.default_rng(0)
    crowded, limits = [], []
    for seed in (3, None):  # a seeded reset, then one drawn from the auto-reset stream
        _assert_same(got_env.reset(seed=seed), want_env.reset(seed=seed))
        for _ in range(3 * options["max_cycles"] + 2):  # across several automatic resets
            actions = _actions(want_env, rng)
            _assert_same(got_env.step(actions), want_env.step(actions))
            if hasattr(got_env, "pos") and got_env.pos.ndim == 3:  # bodies in contact (the contact force acts)
                count = got_env.pos.shape[1]
                gaps = np.linalg.norm(got_env.pos[:, :, None] - got_env.pos[:, None], axis=-1) + np.eye(count) * 9
                crowded.append(np.any(gaps < 0.15))
            if task == "simple_tag_v3":  # the speed cap and the prey's boundary penalty act too
                speed = np.linalg.norm(got_env.vel, axis=-1)
                limits.append((np.any(np.isclose(speed, got_env.max_speeds)),
                               np.any(np.abs(got_env.pos[:, got_env.num_adversaries:]) > 0.9)))
    assert task not in ("simple_spread_v3", "simple_tag_v3", "simple_push_v3") or extra.get("N") == 1 or any(crowded), \
        "no contact: the check is incomplete"
    assert task != "simple_tag_v3" or np.all(np.any(limits, axis=0)), "speed cap or boundary never reached"


def test_make_vec_env_runs_the_port_unless_asked_not_to():
    env_id = "mpe2/simple_speaker_listener_v4"
    assert isinstance(make_vec_env(env_id, 4, seed=0), SpeakerListenerVecEnv)
    assert isinstance(make_vec_env(env_id, 4, seed=0, max_cycles=10, dynamic_rescaling=False), SpeakerListenerVecEnv)
    assert isinstance(make_vec_env(env_id, 4, seed=0, batched=False), SyncParallelVecEnv)
    assert isinstance(make_vec_env(env_id, 4, seed=0, benchmark_data=True), SyncParallelVecEnv)  # not modelled
    assert isinstance(make_vec_env("mpe2/simple_spread_v3", 4, seed=0, N=4), SpreadVecEnv)
    assert isinstance(make_vec_env("mpe2/simple_spread_v3", 4, seed=0, curriculum=True), SyncParallelVecEnv)
    assert isinstance(make_vec_env("mpe2/simple_tag_v3", 4, seed=0, render_mode="rgb_array"), SyncParallelVecEnv)
    with pytest.raises(ConfigError, match="batched"):
        make_vec_env(env_id, 4, batched="yes")


def test_replicated_port_replays_the_same_episodes_in_every_block():
    env = SpeakerListenerVecEnv(3, seed=0)
    twice = env.replicated(2)
    first, _ = env.reset(seed=9)
    both, _ = twice.reset(seed=9)
    for agent in first:
        np.testing.assert_array_equal(both[agent][:3], first[agent])
        np.testing.assert_array_equal(both[agent][3:], first[agent])


def test_bad_actions_and_options_are_named_errors():
    env = SpeakerListenerVecEnv(2, seed=0, continuous_actions=False)
    with pytest.raises(EnvError, match="step.. was called before reset"):
        env.step({"speaker_0": np.zeros(2, int), "listener_0": np.zeros(2, int)})
    env.reset(seed=0)
    outside = r"action 5 of agent 'listener_0' in sub-env 1 is outside its space Discrete\(5\)"
    with pytest.raises(EnvError, match=outside):
        env.step({"speaker_0": np.zeros(2, int), "listener_0": np.array([0, 5])})
    with pytest.raises(EnvError, match=r"missing agents \['listener_0'\]"):
        env.step({"speaker_0": np.zeros(2, int)})
    with pytest.raises(EnvError, match="max_cycles"):
        SpeakerListenerVecEnv(2, max_cycles=0)
    with pytest.raises(ConfigError, match="local_ratio"):
        SpreadVecEnv(2, local_ratio=1.5)


@pytest.mark.parametrize("algo", ["MATD3", "IPPO"])
def test_training_on_the_port_equals_training_on_mpe2(algo, tmp_path):
    from evo_marl import MultiAgentReplayBuffer, create_population, train_multi_agent_off_policy, \
        train_multi_agent_on_policy

    def train(batched: bool):
        env = make_vec_env("mpe2/simple_speaker_listener_v4", num_envs=4, seed=0, batched=batched)
        agents = list(env.agents)
        hp = {"AGENT_IDS": agents, "BATCH_SIZE": 32, "LEARN_STEP": 64 if algo == "IPPO" else 8}
        pop = create_population(algo, [env.single_observation_space(a) for a in agents],
                                [env.single_action_space(a) for a in agents], {"hidden_size": [16]}, hp,
                                population_size=2, num_envs=4, seed=3)
        common = dict(INIT_HP=hp, max_steps=600, evo_steps=300, eval_loop=1, checkpoint=False, verbose=False,
                      seed=3, run_dir=tmp_path / f"{algo}_{batched}")
        if algo == "IPPO":
            pop, fitness = train_multi_agent_on_policy(env, "speaker_listener", algo, pop, **common)
        else:
            memory = MultiAgentReplayBuffer(10_000, ["obs", "action", "reward", "next_obs", "termination"],
                                            agent_ids=agents)
            pop, fitness = train_multi_agent_off_policy(env, "speaker_listener", algo, pop, memory, learning_delay=0,
                                                        **common)
        return fitness, [next(iter(m.networks.values())).state_dict() for m in pop]

    (port_fitness, port_weights), (mpe2_fitness, mpe2_weights) = train(True), train(False)
    assert port_fitness == mpe2_fitness and len(port_fitness[0]) == 2
    for got, want in zip(port_weights, mpe2_weights):
        for name in want:
            assert torch.equal(got[name], want[name]), name


def test_every_port_is_checked_against_mpe2():
    assert {task for task, _ in CASES} == set(PORTS)
