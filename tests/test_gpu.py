"""The GPU path: buffer, networks and optimizer state on the device, and batched learning steps that never make
the host wait for it (``torch.cuda.set_sync_debug_mode("error")`` turns any such wait into an error).

The CUDA tests skip on machines without CUDA; ``python benchmarks/gpu_check.py`` runs them with the
throughput benchmark on a GPU machine. The device checks of the config run everywhere.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from evo_marl import (MultiAgentReplayBuffer, create_population, make_vec_env, train_multi_agent_off_policy,
                      train_multi_agent_on_policy)
from evo_marl.config import load_config
from evo_marl.errors import ConfigError

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
FIELDS = ["obs", "action", "reward", "next_obs", "termination", "active"]


def test_device_is_checked_when_loading_and_running(tmp_path):
    with pytest.raises(ConfigError, match="device='tpu'"):
        load_config({"env": {"id": "tiny/coop_box"}, "device": "tpu"})
    config = load_config({"env": {"id": "tiny/coop_box"}, "device": "cuda:7"})  # loads anywhere
    if torch.cuda.device_count() < 8:
        from evo_marl.experiment import available_device

        with pytest.raises(ConfigError, match="device='cuda:7': is not available on this machine"):
            available_device(config.device)


@contextmanager
def no_host_waits():
    """Any operation that makes the host wait for the device raises inside this block."""
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def population(algo: str, scenario: str = "coop_box", size: int = 3, **hp):
    env = make_vec_env(f"tiny/{scenario}", num_envs=4, seed=0)
    hp = {"BATCH_SIZE": 32, "LEARN_STEP": 4 if algo != "IPPO" else 64, "AGENT_IDS": env.agents, **hp}
    pop = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [32, 32]}, hp,
                            population_size=size, num_envs=4, device="cuda", seed=0)
    return env, pop, hp


def filled_memory(env, member, steps: int = 60) -> MultiAgentReplayBuffer:
    memory = MultiAgentReplayBuffer(10_000, FIELDS, agent_ids=env.agents, device="cuda", seed=0)
    obs, _ = env.reset(seed=0)
    for _ in range(steps):
        env_act, raw = member.get_action(obs)
        next_obs, rewards, terms, _, _ = env.step(env_act)
        memory.save_to_memory(obs, raw, rewards, next_obs, terms, {a: np.ones(4, bool) for a in terms},
                              is_vectorised=True)
        obs = next_obs
    return memory


def diversify(pop) -> None:
    rng = np.random.default_rng(1)
    group = list(pop[0].groups)[0]
    pop[1].mutate_architecture(f"actor/{group}", "add_node", rng)
    pop[1].batch_size = 24
    pop[2].set_hyperparameter("gamma", 0.5)
    pop[2].set_hyperparameter("policy_freq", 2)


@cuda
@pytest.mark.parametrize("algo,scenario", [("MATD3", "coop_box"), ("MADDPG", "coop_discrete")])
def test_batched_learning_equals_per_member_on_cuda(algo, scenario):
    from evo_marl.population.off_policy import StackedOffPolicy, stacked_batch

    env, pop, _ = population(algo, scenario)
    memory = filled_memory(env, pop[0])
    diversify(pop)
    alone, stacked = [m.clone() for m in pop], [m.clone() for m in pop]
    memory_alone, memory_stacked = copy.deepcopy(memory), copy.deepcopy(memory)
    for _ in range(4):
        for m in alone:
            m.learn(memory_alone.sample(m.batch_size))
    learner = StackedOffPolicy(stacked)
    for _ in range(4):
        rows = [memory_stacked.sample_indices(m.batch_size) for m in stacked]
        learner.learn([0, 1, 2], stacked_batch(memory_stacked, stacked[0], rows), [len(r) for r in rows])
    learner.write_back()
    for a, b in zip(alone, stacked):
        for name in a.networks:
            for p, q in zip(a.networks[name].parameters(), b.networks[name].parameters()):
                assert q.device.type == "cuda"
                torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
        for name, opt in b.optimizers.items():
            for state in opt.state.values():
                assert all(t.device.type == "cuda" for t in state.values())


@cuda
@pytest.mark.parametrize("algo,precision", [("MADDPG", "float32"), ("MATD3", "float32"), ("MATD3", "bfloat16")])
def test_batched_off_policy_learning_never_waits_for_the_host(algo, precision):
    from evo_marl.population.off_policy import StackedOffPolicy, stacked_batch

    env, pop, _ = population(algo)
    memory = filled_memory(env, pop[0])
    diversify(pop)
    learner = StackedOffPolicy(pop, "auto", precision)
    schedule = [[0, 1, 2], [1, 2], [0, 2], [0, 1, 2]]  # subsets and differing batch sizes (padding)

    def rounds():
        for sel in schedule:
            rows = [memory.sample_indices(pop[k].batch_size) for k in sel]
            learner.learn(sel, stacked_batch(memory, pop[0], rows), [len(r) for r in rows])

    rounds()  # first calls build cached index tensors and views
    with no_host_waits():
        rounds()
    learner.write_back()
    assert all(m.learn_counter == 6 for m in pop[:1])


@cuda
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_batched_ppo_epochs_never_wait_for_the_host(precision):
    from evo_marl.buffers.rollout import RolloutBuffer
    from evo_marl.population.on_policy import StackedPPO

    env, pop, _ = population("IPPO")
    pop[1].set_hyperparameter("batch_size", 24)
    learner = StackedPPO(pop, "auto", precision)
    buffers = []
    for m in pop:
        lead = {g: agents[0] for g, agents in m.groups.items()}
        buffers.append(RolloutBuffer(m.rollout_steps, 4, m.agent_ids, m.groups,
                                     {g: m.obs_dims[a] for g, a in lead.items()},
                                     {g: m.codecs[a].raw_dim for g, a in lead.items()}))
    obs, infos = env.reset(seed=0)
    for _ in range(pop[0].rollout_steps):
        steps = learner.act([0, 1, 2], {a: np.concatenate([obs[a]] * 3) for a in obs})
        obs, rewards, terms, truncs, infos = env.step(steps[0].env_actions)
        columns = [np.stack([d[a] for a in env.agents], 1) for d in (rewards, terms, truncs)]
        for step, buffer in zip(steps, buffers):
            buffer.add(step.obs, step.actions, step.log_probs, step.values, columns[0].astype(np.float32),
                       columns[1], columns[2], np.ones_like(columns[1]), None, step.action_masks)
    for m, buffer in zip(pop, buffers):
        buffer.set_last_obs(m.group_obs(obs))
        buffer.compute_advantages(np.zeros((4, len(m.agent_ids)), np.float32), m.gamma, m.gae_lambda)
    batches = [b.batch("cuda") for b in buffers]
    learner.epochs([0, 1, 2], batches)  # warm-up
    with no_host_waits():
        sums, updates = learner.epochs([0, 1, 2], batches)
    assert sums["value_loss"].device.type == "cuda" and (updates > 0).all()


@cuda
@pytest.mark.parametrize("algo", ["MATD3", "IPPO"])
def test_cuda_training_keeps_buffer_networks_and_optimizers_on_the_device(algo, tmp_path):
    def run(run_dir):
        env, pop, hp = population(algo, size=2)
        common = dict(INIT_HP=hp, max_steps=400, evo_steps=200, eval_loop=2, seed=3, run_dir=run_dir, verbose=False)
        if algo == "IPPO":
            return train_multi_agent_on_policy(env, "tiny", algo, pop, **common), None
        memory = MultiAgentReplayBuffer(10_000, FIELDS, agent_ids=env.agents, device="cuda")
        return train_multi_agent_off_policy(env, "tiny", algo, pop, memory, learning_delay=32, **common), memory

    (pop, history), memory = run(tmp_path / "a")
    for m in pop:
        assert m.learn_counter > 0
        assert all(p.device.type == "cuda" for net in [*m.networks.values(), *m.targets.values()]
                   for p in net.parameters())
        assert all(t.device.type == "cuda" for opt in m.optimizers.values() for state in opt.state.values()
                   for t in state.values())
    if memory is not None:
        assert all(store.device.type == "cuda" for per in memory._data.values() for store in per.values())
    (_, again), _ = run(tmp_path / "b")
    # the same run again (to float tolerance: cuBLAS does not promise bit-identical results across calls)
    np.testing.assert_allclose(np.array(again), np.array(history), rtol=1e-4, atol=1e-4)
