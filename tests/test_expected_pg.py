"""MADDPG/MATD3's expected discrete policy gradient (``expected_pg``): exact expectation over each segment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evo_marl import train_multi_agent_off_policy
from conftest import make_tiny_population


def test_expected_actor_loss_is_the_policy_weighted_critic_value_per_segment():
    env, pop, memory, _ = make_tiny_population("MADDPG", "coop_multidiscrete", pop_size=1, num_envs=2, seed=0,
                                               EXPECTED_PG=True, ENTROPY_COEF=0.0)
    member = pop[0]
    agents = member.agent_ids
    b = 5
    gen = torch.Generator().manual_seed(0)
    obs = {a: torch.rand(b, member.obs_dims[a], generator=gen) for a in agents}
    act = {a: member.codecs[a].one_hot_argmax(torch.rand(b, member.codecs[a].raw_dim, generator=gen)) for a in agents}
    weights = {a: torch.ones(b) for a in agents}
    outputs = member._policy_outputs(obs)
    loss = member._expected_actor_loss(obs, act, weights, outputs)
    expected = 0.0
    for agent in agents:  # brute force: one critic call per choice
        codec, out = member.codecs[agent], outputs[agent].detach()
        greedy = codec.one_hot_argmax(out)
        critic = member.networks[f"critic1/{member.group_of[agent]}"]
        start = 0
        for seg in codec.split_logits(out):
            probs = torch.softmax(seg, -1)
            for c in range(seg.shape[-1]):
                choice = greedy.clone()
                choice[:, start:start + seg.shape[-1]] = 0.0
                choice[:, start + c] = 1.0
                joint = {a: (choice if a == agent else act[a]) for a in agents}
                q = critic(member._critic_input(obs, joint, agent)).squeeze(-1).detach()
                expected -= float((probs[:, c] * q).mean())
            start += seg.shape[-1]
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    loss.backward()
    grads = [p.grad for p in member.networks[f"actor/{member.group_of[agents[0]]}"].parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_entropy_bonus_prefers_spread_policies():
    env, pop, memory, _ = make_tiny_population("MADDPG", "coop_discrete", pop_size=1, num_envs=2, seed=0,
                                               EXPECTED_PG=True, ENTROPY_COEF=1.0)
    member = pop[0]
    agents = member.agent_ids
    gen = torch.Generator().manual_seed(1)
    obs = {a: torch.rand(4, member.obs_dims[a], generator=gen) for a in agents}
    act = {a: torch.nn.functional.one_hot(torch.zeros(4, dtype=torch.long), 4).float() for a in agents}
    weights = {a: torch.ones(4) for a in agents}
    flat = {a: torch.zeros(4, 4) for a in agents}
    peaked = {a: torch.tensor([[20.0, 0, 0, 0]]).repeat(4, 1) for a in agents}
    with torch.no_grad():
        gap = float(member._expected_actor_loss(obs, act, weights, peaked)
                    - member._expected_actor_loss(obs, act, weights, flat))
    # the entropy term alone is worth log(4) per agent; Q-values of an untrained critic are small
    assert gap > 0.5 * len(agents) * np.log(4)


@pytest.mark.parametrize("algo,scenario", [("MATD3", "coop_multidiscrete"), ("MADDPG", "coop_discrete")])
def test_expected_pg_learns_the_tiny_discrete_envs(tmp_path, algo, scenario):
    env, pop, memory, hp = make_tiny_population(algo, scenario, pop_size=2, num_envs=8, seed=1, LR_ACTOR=3e-3,
                                                LR_CRITIC=3e-3, EXPECTED_PG=True, ENTROPY_COEF=0.01)
    pop, history = train_multi_agent_off_policy(
        env, "tiny", algo, pop, memory, INIT_HP=hp, max_steps=3000, evo_steps=1000, eval_loop=16,
        learning_delay=256, seed=7, run_dir=tmp_path / "run", verbose=False)
    assert max(history[-1]) > -0.5, history
