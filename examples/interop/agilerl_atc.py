"""evo-marl's ATC and Bucket Brigade envs in AgileRL's own training loop (AgileRL 2.58, pettingzoo<1.27).

    python examples/interop/agilerl_atc.py                     # MATD3 on atc/head_on, then IPPO on Bucket Brigade
    python examples/interop/agilerl_atc.py --steps 2000        # quick (benchmarks/peer/test_agilerl.sh runs it)

Everything below is plain AgileRL; the only evo-marl call is ``evo_marl.make_env(env_id)``, a PettingZoo
``ParallelEnv`` that AgileRL's ``AsyncPettingZooVecEnv`` steps in worker processes. See docs/interop.md.
"""

from __future__ import annotations

import argparse
import warnings
from functools import partial

import torch
from agilerl.algorithms.core.registry import HyperparameterConfig, RLParameter
from agilerl.components.replay_buffer import ReplayBuffer
from agilerl.hpo.mutation import Mutations
from agilerl.hpo.tournament import TournamentSelection
from agilerl.training.train_multi_agent_off_policy import train_multi_agent_off_policy
from agilerl.training.train_multi_agent_on_policy import train_multi_agent_on_policy
from agilerl.utils.utils import create_population
from agilerl.vector.pz_async_vec_env import AsyncPettingZooVecEnv

import evo_marl

NET_CONFIG = {"encoder_config": {"hidden_size": [64]}, "latent_dim": 64, "head_config": {"hidden_size": [64]}}


def vector_env(env_id: str, num_envs: int, seed: int, **env_kwargs):
    """``num_envs`` copies of an evo-marl env in AgileRL's vector env, with their spaces and agent ids."""
    env = AsyncPettingZooVecEnv([partial(evo_marl.make_env, env_id, **env_kwargs) for _ in range(num_envs)])
    env.reset(seed=seed)
    agents = list(env.agents)
    return env, agents, [env.single_observation_space(a) for a in agents], [env.single_action_space(a) for a in agents]


def atc_matd3(steps: int, pop_size: int = 4, num_envs: int = 8, seed: int = 0):
    """MATD3 on ATC head_on: two airliners fly at each other and must pass 5 NM apart (optimum return ~24)."""
    env, agents, obs_spaces, act_spaces = vector_env("atc/head_on", num_envs, seed)
    init_hp = {"AGENT_IDS": agents, "BATCH_SIZE": 256, "LR_ACTOR": 1e-4, "LR_CRITIC": 1e-3, "GAMMA": 0.99,
               "TAU": 0.01, "LEARN_STEP": 8, "EXPL_NOISE": 0.3, "O_U_NOISE": False, "POLICY_FREQ": 2}
    hp_config = HyperparameterConfig(lr_actor=RLParameter(min=1e-5, max=3e-4),
                                     lr_critic=RLParameter(min=3e-4, max=3e-3))
    pop = create_population("MATD3", NET_CONFIG, init_hp, obs_spaces, act_spaces, hp_config=hp_config,
                            population_size=pop_size, num_envs=num_envs)
    return train_multi_agent_off_policy(
        env, "atc/head_on", "MATD3", pop, ReplayBuffer(100_000), init_hp=init_hp, max_steps=steps,
        evo_steps=min(5_000, steps // 2), eval_loop=1, learning_delay=1_000,
        selection_strategy=TournamentSelection(2, True, pop_size),
        mutation=Mutations(0.4, 0.2, 0.2, 0.2, 0.0, 0.2, mutate_elite=False, rand_seed=seed), verbose=False)


def bucket_brigade_ippo(steps: int, pop_size: int = 4, num_envs: int = 8, seed: int = 0):
    """IPPO on Bucket Brigade (MultiDiscrete actions, which AgileRL's MADDPG/MATD3 do not take; IPPO does).
    The four agents ``agent_0..3`` share one policy in AgileRL (same prefix)."""
    env, agents, obs_spaces, act_spaces = vector_env("bucket_brigade/default", num_envs, seed)
    init_hp = {"AGENT_IDS": agents, "LR": 3e-4, "LEARN_STEP": 64 * num_envs, "BATCH_SIZE": 128, "GAMMA": 0.99,
               "UPDATE_EPOCHS": 4, "ENT_COEF": 0.01}
    pop = create_population("IPPO", NET_CONFIG, init_hp, obs_spaces, act_spaces, population_size=pop_size,
                            num_envs=num_envs)
    return train_multi_agent_on_policy(
        env, "bucket_brigade/default", "IPPO", pop, init_hp=init_hp, max_steps=steps,
        evo_steps=min(5_000, steps // 2), eval_loop=1, selection_strategy=TournamentSelection(2, True, pop_size),
        mutation=Mutations(0.4, 0.2, 0.2, 0.2, 0.0, 0.2, mutate_elite=False, rand_seed=seed), verbose=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000, help="env steps per member")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # create_population's deprecation notice
    for name, run in (("ATC head_on, MATD3", atc_matd3), ("Bucket Brigade default, IPPO", bucket_brigade_ippo)):
        pop, fitnesses = run(args.steps)
        print(f"\n{name}: {len(pop)} members, {pop[0].steps} steps each; last fitnesses "
              f"{[round(float(f), 2) for f in fitnesses]}")


if __name__ == "__main__":
    main()
