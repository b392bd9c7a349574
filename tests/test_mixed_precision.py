"""Mixed-precision batched learning (``precision="bfloat16"``): the hidden layers compute in bfloat16, everything
else stays float32; it learns what float32 learns, acting is untouched, and bad settings are refused by name.
The tiny-env learning tests of every algorithm run in bfloat16 too (test_on_policy.py, test_off_policy_learning.py)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from conftest import make_tiny_population
from evo_marl import ConfigError, train_multi_agent_off_policy
from evo_marl.config import TrainingConfig
from evo_marl.population import precision as precision_module
from evo_marl.population.off_policy import StackedOffPolicy, stacked_batch
from evo_marl.population.on_policy import StackedPPO
from evo_marl.population.stack import Layout, mlp_forward
from evo_marl.training.settings import RunSettings
from test_batched_learning import filled_memory, rollout_buffer
from test_on_policy import _ippo_population


def _flat(member) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for net in member.networks.values() for p in net.parameters()])


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_hidden_layers_compute_in_bfloat16_and_the_output_in_float32():
    gen = torch.Generator().manual_seed(0)
    layout = Layout(12, (64, 64), 3, "ReLU", None)
    params = [torch.randn(3, *shape, generator=gen) / shape[0] ** 0.5 for shape in layout.shapes()]
    for p in params:
        p.requires_grad_()
    x = torch.randn(3, 50, 12, generator=gen)
    exact = mlp_forward(layout, params, x)
    low = mlp_forward(layout, params, x, torch.bfloat16)
    assert low.dtype == torch.float32
    assert not torch.equal(low, exact)  # the hidden layers really ran in bfloat16
    torch.testing.assert_close(low, exact, rtol=0.05, atol=0.05)
    grads = torch.autograd.grad(low.square().sum(), params)
    exact_grads = torch.autograd.grad(exact.square().sum(), params)
    for g, e in zip(grads, exact_grads):
        assert g.dtype == torch.float32
        assert _cosine(g.flatten(), e.flatten()) > 0.99


def test_ippo_learns_in_bfloat16_what_it_learns_in_float32_and_acts_in_float32():
    env, pop, _ = _ippo_population("coop_box", pop_size=2, num_envs=4, LEARN_STEP=64, BATCH_SIZE=64,
                                   UPDATE_EPOCHS=1)  # one PPO update per member
    actor = pop[0].clone()
    obs, infos = env.reset(seed=0)
    transitions = []  # member 0's rollout, which both members learn from in both precisions
    for _ in range(16):
        step = actor.act(obs, infos)
        obs, rewards, terms, truncs, infos = env.step(step.env_actions)
        transitions.append((step, [np.stack([d[a] for a in env.agents], 1) for d in (rewards, terms, truncs)]))
    results = {}
    for precision in ("float32", "bfloat16"):
        members = [m.clone() for m in pop]
        learner = StackedPPO(members, "auto", precision)
        steps = learner.act([0, 1], {a: np.concatenate([transitions[0][0].obs[a]] * 2) for a in env.agents})
        np.testing.assert_allclose(steps[0].values, transitions[0][0].values, atol=1e-5)  # acting stays float32
        buffers = [rollout_buffer(m) for m in members]
        for step, (rewards, terms, truncs) in transitions:
            for buffer in buffers:
                buffer.add(step.obs, step.actions, step.log_probs, step.values, rewards.astype(np.float32), terms,
                           truncs, np.ones_like(terms), None, step.action_masks)
        for member, buffer in zip(members, buffers):
            buffer.set_last_obs(member.group_obs(obs))
        losses = learner.learn([0, 1], buffers)
        assert [loss["updates"] for loss in losses] == [1, 1]
        learner.write_back()
        results[precision] = [_flat(m) - _flat(p) for m, p in zip(members, pop)], losses
    (exact_deltas, exact_losses), (low_deltas, low_losses) = results["float32"], results["bfloat16"]
    for exact, low in zip(exact_deltas, low_deltas):
        assert not torch.equal(exact, low)
        assert _cosine(exact, low) > 0.9, "bfloat16 updates should point where the float32 ones do"
    for exact, low in zip(exact_losses, low_losses):
        assert low["value_loss"] == pytest.approx(exact["value_loss"], rel=0.02)


def test_matd3_learns_in_bfloat16_what_it_learns_in_float32():
    env, pop, _, _ = make_tiny_population("MATD3", "coop_box", pop_size=2, num_envs=4, seed=3)
    memory = filled_memory(env, pop[0])
    rows = [[memory.sample_indices(m.batch_size) for m in pop] for _ in range(4)]
    results = {}
    for precision in ("float32", "bfloat16"):
        members = [m.clone() for m in pop]
        learner = StackedOffPolicy(members, "auto", precision)
        for step_rows in rows:
            learner.learn([0, 1], stacked_batch(memory, members[0], step_rows))
        learner.write_back()
        results[precision] = [_flat(m) - _flat(p) for m, p in zip(members, pop)]
    for exact, low in zip(results["float32"], results["bfloat16"]):
        assert not torch.equal(exact, low)
        assert _cosine(exact, low) > 0.9


def test_bfloat16_runs_repeat_under_a_seed(tmp_path):
    histories = []
    for name in ("a", "b"):
        env, pop, memory, hp = make_tiny_population("MATD3", "coop_box", pop_size=2, num_envs=4, seed=1)
        _, history = train_multi_agent_off_policy(env, "tiny", "MATD3", pop, memory, INIT_HP=hp, max_steps=600,
                                                  evo_steps=300, eval_loop=2, learning_delay=64, seed=3,
                                                  run_dir=tmp_path / name, verbose=False, precision="bfloat16")
        histories.append(history)
    assert histories[0] == histories[1]


def test_precision_settings_are_checked():
    with pytest.raises(ConfigError, match="training.precision='float16'"):
        TrainingConfig(precision="float16")
    with pytest.raises(ConfigError, match="training.precision='bfloat16': needs training.batched_learning"):
        TrainingConfig(precision="bfloat16", batched_learning=False)
    with pytest.raises(ConfigError, match="precision='half'"):
        RunSettings(env_name="tiny", precision="half")
    with pytest.raises(ConfigError, match="precision='bfloat16': needs batched_learning"):
        RunSettings(env_name="tiny", precision="bfloat16", batched_learning=False)
    assert TrainingConfig(precision="bfloat16").precision == "bfloat16"


def test_emulated_bfloat16_is_warned_about_once(monkeypatch, caplog):
    monkeypatch.setattr(precision_module, "native_bfloat16", lambda device: False)
    precision_module._warn_emulated.cache_clear()
    with caplog.at_level(logging.WARNING, logger="evo_marl.population.precision"):
        assert precision_module.hidden_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16
        precision_module.hidden_dtype("bfloat16", torch.device("cpu"))
    assert [r.getMessage() for r in caplog.records].count(
        "precision bfloat16 on cpu, which has no native bfloat16 matrix units: learning will be slower than in "
        "float32 (use precision float32)") == 1
    assert precision_module.hidden_dtype("float32", torch.device("cpu")) is None
    precision_module._warn_emulated.cache_clear()
