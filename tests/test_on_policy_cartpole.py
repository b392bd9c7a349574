"""Slow learning test: PPO (a one-member IPPO population) through the gym adapter solves CartPole-v1."""

from __future__ import annotations

import pytest

from evo_marl import create_population, make_vec_env, train_multi_agent_on_policy

# rl-zoo's CartPole PPO settings, without learning-rate or clip annealing.
INIT_HP = {"LR": 1e-3, "LEARN_STEP": 256, "BATCH_SIZE": 256, "GAMMA": 0.98, "GAE_LAMBDA": 0.8,
           "UPDATE_EPOCHS": 20, "ENT_COEF": 0.0, "CLIP_COEF": 0.2}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_ppo_solves_cartpole_within_100k_env_steps(tmp_path, seed):
    env = make_vec_env("gym/CartPole-v1", 8, seed=0)
    pop = create_population("IPPO", [env.single_observation_space("agent_0")], [env.single_action_space("agent_0")],
                            {"hidden_size": [64, 64], "activation": "Tanh"}, INIT_HP, population_size=1, num_envs=8,
                            seed=seed)
    pop, history = train_multi_agent_on_policy(
        env, "cartpole", "IPPO", pop, INIT_HP=INIT_HP, max_steps=100_000, evo_steps=4096, eval_loop=8,
        target=475, seed=seed, run_dir=tmp_path / "run", verbose=False)
    best = max(max(h) for h in history)
    assert best >= 475, f"best mean evaluation return {best} after {pop[0].steps[-1]} env steps: {history}"
    assert pop[0].steps[-1] <= 100_000
