"""Train RLlib's PPO on an evo-marl env through ``ParallelPettingZooEnv`` (RLlib's new API stack).

    pip install 'evo-marl[rllib]'
    python examples/interop/rllib_atc.py                                  # atc/head_on, 20 iterations
    python examples/interop/rllib_atc.py --env bucket_brigade/default --iterations 5

Every evo-marl env id (``evo_marl.list_envs()``) is a PettingZoo ``ParallelEnv``, so RLlib takes it as it takes
any PettingZoo env. All agents of the ATC and Bucket Brigade scenarios share one observation and action space,
so one policy ("shared") drives every agent (``--per-agent`` trains one policy per agent instead).
"""

from __future__ import annotations

import argparse
import math

import evo_marl
import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env


def make_rllib_env(env_config: dict) -> ParallelPettingZooEnv:
    """RLlib's env creator: an evo-marl env id (plus its keyword arguments) as an RLlib ``MultiAgentEnv``."""
    return ParallelPettingZooEnv(evo_marl.make_env(env_config["env_id"], **env_config.get("env_kwargs", {})))


def ppo_config(env_id: str, per_agent: bool = False, batch_size: int = 2000, seed: int = 0) -> PPOConfig:
    """PPO on ``env_id`` with small MLPs, sampling and learning in this process (no Ray workers)."""
    register_env("evo_marl", make_rllib_env)
    agents = evo_marl.make_env(env_id).possible_agents
    policies = {agent: agent for agent in agents} if per_agent else {agent: "shared" for agent in agents}
    return (
        PPOConfig()
        .environment("evo_marl", env_config={"env_id": env_id})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .learners(num_learners=0)
        .multi_agent(policies=set(policies.values()), policy_mapping_fn=lambda agent, *_, **__: policies[agent])
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={
            policy: RLModuleSpec(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))
            for policy in set(policies.values())}))
        .training(lr=3e-4, gamma=0.99, train_batch_size_per_learner=batch_size,
                  minibatch_size=min(256, batch_size), num_epochs=4)
        .debugging(seed=seed)
    )


def main(argv: list[str] | None = None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="atc/head_on", help="an evo-marl env id (default: atc/head_on)")
    parser.add_argument("--iterations", type=int, default=20, help="PPO training iterations")
    parser.add_argument("--batch-size", type=int, default=2000, help="env steps per iteration")
    parser.add_argument("--per-agent", action="store_true", help="one policy per agent instead of a shared one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    started_ray = not ray.is_initialized()
    if started_ray:  # a small local Ray instance: this process samples and learns, no dashboard
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    algo = ppo_config(args.env, args.per_agent, args.batch_size, args.seed).build_algo()
    returns = []
    try:
        for i in range(1, args.iterations + 1):
            result = algo.train()
            runners = result["env_runners"]
            returns.append(float(runners.get("episode_return_mean", math.nan)))
            print(f"iteration {i}: env steps {runners['num_env_steps_sampled_lifetime']}, "
                  f"mean episode return {returns[-1]:.2f}", flush=True)
    finally:
        algo.stop()
        if started_ray:
            ray.shutdown()
    return returns


if __name__ == "__main__":
    main()
