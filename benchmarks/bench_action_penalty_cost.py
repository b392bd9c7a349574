"""Cost of MATD3's action penalty (``ACTION_L2``): training throughput with it off and on, back to back.

    python benchmarks/bench_action_penalty_cost.py

The ATC recipe's MATD3 setting (population 8 x 8 envs, batch 256, learn_step 8, [64, 64]) on atc/head_on,
10k env steps per member, each value run twice alternately; prints transitions/s (all members together).
"""

import time

import torch

from evo_marl import create_population, make_vec_env, MultiAgentReplayBuffer, train_multi_agent_off_policy


def run(l2: float) -> float:
    env = make_vec_env("atc/head_on", num_envs=8, seed=0)
    hp = {"BATCH_SIZE": 256, "LR_ACTOR": 5e-5, "LR_CRITIC": 1e-3, "LEARN_STEP": 8, "EXPL_NOISE": 0.3,
          "HUBER_DELTA": 0.3, "SHARE_PARAMS": True, "ACTION_L2": l2, "AGENT_IDS": env.agents}
    pop = create_population("MATD3", [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [64, 64]}, hp,
                            population_size=8, num_envs=8, seed=0)
    mem = MultiAgentReplayBuffer(200_000, field_names=["obs", "action", "reward", "next_obs", "termination"], agent_ids=env.agents)
    t = time.perf_counter()
    train_multi_agent_off_policy(env, "atc/head_on", "MATD3", pop, mem, INIT_HP=hp, max_steps=10_000, evo_steps=5_000,
                                 eval_loop=1, seed=0, verbose=False)
    return 8 * 10_000 / (time.perf_counter() - t)


if __name__ == "__main__":
    torch.set_num_threads(1)
    for l2 in (0.0, 0.1, 0.0, 0.1):
        print(f"ACTION_L2={l2}: {run(l2):,.0f} transitions/s", flush=True)
