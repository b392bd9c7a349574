"""The custom training loop of the AgileRL multi-agent docs runs against evo-marl with only the imports changed.

The body below follows the documented loop line by line (NET_CONFIG and upper-case INIT_HP exactly as on
the page); the two names the page uses without defining (``is_vectorised``, ``sum_scores``) are set first.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mpe2")


def test_documented_custom_loop_runs(tmp_path):
    import torch
    from mpe2 import simple_speaker_listener_v4
    from tqdm import trange

    from evo_marl import (AsyncPettingZooVecEnv, MultiAgentReplayBuffer, Mutations, TournamentSelection,
                          create_population, obs_channels_to_first)

    is_vectorised, sum_scores = True, True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    NET_CONFIG = {
        "speaker_0": {"encoder_config": {"hidden_size": [32, 32], "activation": "ReLU"}, "head_config": {"hidden_size": [32]}},
        "listener_0": {"encoder_config": {"hidden_size": [32, 32], "activation": "ReLU"}, "head_config": {"hidden_size": [32]}},
    }
    INIT_HP = {
        "CHANNELS_LAST": False, "BATCH_SIZE": 32, "O_U_NOISE": True, "EXPL_NOISE": 0.1, "MEAN_NOISE": 0.0,
        "THETA": 0.15, "DT": 0.01, "LR_ACTOR": 0.001, "LR_CRITIC": 0.001, "GAMMA": 0.95, "MEMORY_SIZE": 100000,
        "LEARN_STEP": 100, "TAU": 0.01, "POLICY_FREQ": 2, "POP_SIZE": 4,
    }
    num_envs = 8
    env = AsyncPettingZooVecEnv(
        [lambda: simple_speaker_listener_v4.parallel_env(continuous_actions=True) for _ in range(num_envs)]
    )
    env.reset()
    observation_spaces = [env.single_observation_space(agent) for agent in env.agents]
    action_spaces = [env.single_action_space(agent) for agent in env.agents]
    INIT_HP["AGENT_IDS"] = env.agents
    pop = create_population("MADDPG", observation_spaces, action_spaces, NET_CONFIG, INIT_HP,
                            population_size=INIT_HP["POP_SIZE"], num_envs=num_envs, device=device)
    field_names = ["state", "action", "reward", "next_state", "done"]
    memory = MultiAgentReplayBuffer(INIT_HP["MEMORY_SIZE"], field_names=field_names,
                                    agent_ids=INIT_HP["AGENT_IDS"], device=device)
    tournament = TournamentSelection(tournament_size=2, elitism=True, population_size=INIT_HP["POP_SIZE"], eval_loop=1)
    mutations = Mutations(no_mutation=0.2, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0,
                          rl_hp=0.2, mutation_sd=0.1, rand_seed=1, device=device)

    max_steps = 1600  # the page uses 1000000; a short budget keeps the test fast
    learning_delay = 0
    evo_steps = 800
    eval_steps = None
    eval_loop = 1
    total_steps = 0
    learned = 0

    pbar = trange(max_steps, unit="step", disable=True)
    while np.less([agent.steps[-1] for agent in pop], max_steps).all():
        pop_episode_scores = []
        for agent in pop:
            agent.set_training_mode(True)
            obs, info = env.reset()
            scores = np.zeros(num_envs)
            completed_episode_scores = []
            steps = 0
            for idx_step in range(evo_steps // num_envs):
                action, raw_action = agent.get_action(obs=obs, infos=info)
                next_obs, reward, termination, truncation, info = env.step(action)
                total_steps += num_envs
                steps += num_envs
                agent_rewards = np.array(list(reward.values())).transpose()
                agent_rewards = np.where(np.isnan(agent_rewards), 0, agent_rewards)
                score_increment = (
                    (np.sum(agent_rewards, axis=-1)[:, np.newaxis] if is_vectorised else np.sum(agent_rewards, axis=-1))
                    if sum_scores else agent_rewards
                )
                memory.save_to_memory(obs, raw_action, reward, next_obs, termination, is_vectorised=True)
                if agent.learn_step > num_envs:
                    learn_step = agent.learn_step // num_envs
                    if idx_step % learn_step == 0 and len(memory) >= agent.batch_size and memory.counter > learning_delay:
                        experiences = memory.sample(agent.batch_size)
                        agent.learn(experiences)
                        learned += 1
                elif len(memory) >= agent.batch_size and memory.counter > learning_delay:
                    for _ in range(num_envs // agent.learn_step):
                        experiences = memory.sample(agent.batch_size)
                        agent.learn(experiences)
                        learned += 1
                obs = next_obs
                dones = {}
                for agent_id in agent.agent_ids:
                    terminated = termination.get(agent_id, True)
                    truncated = truncation.get(agent_id, False)
                    terminated = np.where(np.isnan(terminated), True, terminated).astype(bool)
                    truncated = np.where(np.isnan(truncated), False, truncated).astype(bool)
                    dones[agent_id] = terminated | truncated
                reset_noise_indices = []
                for idx, agent_dones in enumerate(zip(*dones.values())):
                    if all(agent_dones):
                        completed_score = float(scores[idx]) if sum_scores else list(scores[idx])
                        completed_episode_scores.append(completed_score)
                        agent.scores.append(completed_score)
                        scores[idx].fill(0)
                        reset_noise_indices.append(idx)
                agent.reset_action_noise(reset_noise_indices)
            pbar.update(evo_steps // len(pop))
            agent.steps[-1] += steps
            pop_episode_scores.append(completed_episode_scores)
        fitnesses = [agent.test(env, swap_channels=INIT_HP["CHANNELS_LAST"], max_steps=eval_steps, loop=eval_loop)
                     for agent in pop]
        mean_scores = [np.mean(s) if len(s) > 0 else "0 completed episodes" for s in pop_episode_scores]
        assert len(mean_scores) == len(pop)
        elite, pop = tournament.select(pop)
        pop = mutations.mutation(pop)
        for agent in pop:
            agent.steps.append(agent.steps[-1])
    pbar.close()
    env.close()

    assert learned > 0
    assert all(np.isfinite(fitnesses))
    assert len(memory) == total_steps
    assert len(pop) == INIT_HP["POP_SIZE"] and pop[0].elite


def test_channel_helpers_move_the_channel_axis_of_images_and_their_spaces():
    from gymnasium import spaces

    from evo_marl import SpaceError, obs_channels_to_first, observation_space_channels_to_first

    images = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3)  # a batch of [H, W, C] images
    moved = obs_channels_to_first({"agent_0": images})["agent_0"]
    assert moved.shape == (2, 3, 4, 5) and moved[1, 2, 3, 4] == images[1, 3, 4, 2]
    space = observation_space_channels_to_first(spaces.Box(0, 255, (4, 5, 3), np.uint8))
    assert space.shape == (3, 4, 5) and space.dtype == np.uint8
    with pytest.raises(SpaceError, match="needs a Box of shape"):
        observation_space_channels_to_first(spaces.Box(0, 1, (7,)))
    with pytest.raises(SpaceError, match=r"\[\.\.\., H, W, C\]"):
        obs_channels_to_first(np.zeros(7))
