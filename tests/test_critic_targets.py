"""MADDPG/MATD3 critic options: ``reward_scale`` sets the scale Q regresses on, ``huber_delta`` the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from evo_marl import create_population
from evo_marl.errors import ConfigError

AGENTS = ["a", "b"]
OBS = spaces.Box(-1, 1, (3,), np.float32)
ACT = spaces.Box(-1, 1, (2,), np.float32)


def member(algo: str = "MATD3", **hp):
    hp = {"GAMMA": 0.0, "LR_CRITIC": 3e-3, "BATCH_SIZE": 32, **hp}
    return create_population(algo, [OBS, OBS], [ACT, ACT], {"hidden_size": [32]}, hp, agent_ids=AGENTS,
                             population_size=1, seed=0)[0]


def batch(reward: float, n: int = 32) -> dict:
    gen = torch.Generator().manual_seed(0)
    def per_agent(dim):
        return {a: torch.rand((n, dim), generator=gen) * 2 - 1 for a in AGENTS}
    return {"obs": per_agent(3), "action": per_agent(2), "reward": {a: torch.full((n,), reward) for a in AGENTS},
            "next_obs": per_agent(3), "termination": {a: torch.zeros(n) for a in AGENTS}}


def q_values(m, b) -> torch.Tensor:
    obs = {a: b["obs"][a] for a in AGENTS}
    with torch.no_grad():
        x = m._critic_input(obs, b["action"], "a")
        return m.networks[f"critic1/{m.group_of['a']}"](x).squeeze(-1)


@pytest.mark.parametrize("algo", ["MADDPG", "MATD3"])
@pytest.mark.parametrize("scale", [1.0, 0.05])
def test_critic_regresses_on_scaled_rewards(algo, scale):
    m = member(algo, REWARD_SCALE=scale)
    b = batch(reward=4.0)
    for _ in range(400):  # gamma 0: the target is reward_scale x reward, whatever the actors do
        m.learn(b)
    q = q_values(m, b).numpy()
    assert q.mean() == pytest.approx(4.0 * scale, rel=0.03)
    np.testing.assert_allclose(q, 4.0 * scale, rtol=0.1)


def test_huber_loss_is_linear_in_large_td_errors():
    b = batch(reward=100.0)
    squared = member(LR_CRITIC=1e-9).learn(b)["critic_loss"]
    huber = member(LR_CRITIC=1e-9, HUBER_DELTA=1.0).learn(b)["critic_loss"]
    # same initial critics (same seed): an error e of about 100 costs e^2 squared, |e| - 0.5 with Huber
    assert squared == pytest.approx(2 * (huber / 2 + 0.5) ** 2, rel=0.05)  # summed over the twin critics


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan")])
def test_reward_scale_must_be_positive(value):
    with pytest.raises(ConfigError, match="reward_scale"):
        member(REWARD_SCALE=value)


def bias_actions(m, bias: float) -> None:
    """Set the bias of every actor's output layer (bias 2: actions near tanh(2) = 0.96, the bound)."""
    with torch.no_grad():
        for group in m.groups:
            [p for name, p in m.networks[f"actor/{group}"].named_parameters() if name.endswith("bias")][-1].fill_(bias)


def policy_actions(m, b) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(list(m._policy_outputs({a: b["obs"][a] for a in AGENTS}).values()))


def test_action_l2_adds_the_policys_mean_squared_action_to_the_actor_loss():
    b = batch(reward=1.0)
    plain = member("MADDPG", LR_CRITIC=1e-9, LR_ACTOR=1e-9)
    penalised = member("MADDPG", LR_CRITIC=1e-9, LR_ACTOR=1e-9, ACTION_L2=2.0)
    for m in (plain, penalised):  # same seed: same initial actors
        bias_actions(m, 0.5)
    mean_square = float((policy_actions(plain, b) ** 2).mean()) * len(AGENTS)  # summed over agents
    difference = penalised.learn(b)["actor_loss"] - plain.learn(b)["actor_loss"]
    assert mean_square > 0.1 and difference * len(AGENTS) == pytest.approx(2.0 * mean_square, rel=1e-4)


def test_action_l2_pulls_a_saturated_policy_off_its_bounds():
    b = batch(reward=0.0)
    def mean_abs_action(**hp) -> float:
        m = member("MADDPG", LR_ACTOR=1e-2, **hp)
        bias_actions(m, 2.0)
        for _ in range(100):
            m.learn(b)
        return float(policy_actions(m, b).abs().mean())
    assert mean_abs_action(ACTION_L2=1.0) < 0.5 < mean_abs_action()


@pytest.mark.parametrize("value", [-0.1, float("nan")])
def test_action_l2_must_be_non_negative(value):
    with pytest.raises(ConfigError, match="action_l2"):
        member(ACTION_L2=value)
