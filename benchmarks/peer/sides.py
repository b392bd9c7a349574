"""One side of the AgileRL-vs-evo-marl throughput comparison: train one population, print one JSON line.

    python benchmarks/peer/sides.py --side agilerl --algo MADDPG --env atc/head_on --pop 4

Run by ``compare.py`` (one fresh process per measurement, inside the AgileRL venv, where both libraries
import). Both sides get the same settings (:class:`Setting`): the same network configuration (AgileRL's
encoder/head form, which evo-marl reads as one MLP with the same layers), batch size, learn step,
evolution schedule, tournament and mutation probabilities, and mutation of the learning rates only (so
the learning work per transition stays fixed on both sides while mutations run). Only the training call
is timed; building the envs and the population is not. Besides wall time, the CPU time of the training
call is measured (this process plus the env worker processes AgileRL's vector env starts and joins): on
a shared machine, transitions per CPU-second are much less sensitive to other people's load than
transitions per wall-second (and a side with more processes gets a larger share of a busy machine).

* AgileRL: ``AsyncPettingZooVecEnv`` of ``num_envs`` copies of ``evo_marl.make_env(env_id)`` (evo-marl's
  own PettingZoo env; for ``mpe2/...`` that is the plain mpe2 env), its population and ``ReplayBuffer``,
  and its ``train_multi_agent_off_policy`` / ``train_multi_agent_on_policy``. Its members take turns on
  those ``num_envs`` envs.
* evo-marl: ``make_vec_env(env_id, num_envs)`` (widened to population x num_envs sub-envs, one step for
  the whole population) and ``train_multi_agent_off_policy`` / ``train_multi_agent_on_policy``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from dataclasses import asdict, dataclass, field

import torch

NET_CONFIG = {"encoder_config": {"hidden_size": [64], "layer_norm": False}, "latent_dim": 64,
              "head_config": {"hidden_size": [64], "layer_norm": False}}
MUTATION = dict(no_mutation=0.4, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0.0, rl_hp=0.2,
                mutation_sd=0.1, mutate_elite=False)


@dataclass
class Setting:
    """One measured configuration (identical for both sides)."""

    algo: str = "MADDPG"
    env: str = "atc/head_on"
    pop: int = 4
    num_envs: int = 8
    steps: int = 10_000  # env steps (transitions) per member
    evo_steps: int = 5_000
    batch_size: int = 64
    learn_step: int = 16  # off-policy: transitions per learning step; IPPO: transitions per rollout
    seed: int = 0
    extra_hp: dict = field(default_factory=dict)
    env_kwargs: dict = field(default_factory=dict)  # env options, both sides (e.g. {"batched": false} for mpe2)

    @property
    def on_policy(self) -> bool:
        return self.algo == "IPPO"

    def init_hp(self) -> dict:
        hp = {"BATCH_SIZE": self.batch_size, "LEARN_STEP": self.learn_step, **self.extra_hp}
        if self.on_policy:
            hp.setdefault("LR", 1e-3)
        return hp

    def lr_names(self) -> list[str]:
        return ["lr"] if self.on_policy else ["lr_actor", "lr_critic"]


def ippo_setting(**kwargs) -> Setting:
    """IPPO with the settings of configs/atc_head_on_ippo.yaml: 64-step rollouts of 8 envs, minibatch 128."""
    extra = {"UPDATE_EPOCHS": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_COEF": 0.2, "ENT_COEF": 0.0,
             "ACTION_STD_INIT": 0.3}
    return Setting(algo="IPPO", batch_size=128, learn_step=512, extra_hp=extra, **kwargs)


def run_agilerl(s: Setting) -> dict:
    import numpy as np
    from agilerl.algorithms.core.registry import HyperparameterConfig, RLParameter
    from agilerl.components.replay_buffer import ReplayBuffer
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection
    from agilerl.utils.utils import create_population
    from agilerl.vector.pz_async_vec_env import AsyncPettingZooVecEnv

    import evo_marl

    env = AsyncPettingZooVecEnv([lambda: evo_marl.make_env(s.env, **s.env_kwargs) for _ in range(s.num_envs)])
    env.reset(seed=s.seed)
    agents = list(env.agents)
    hp = {**s.init_hp(), "AGENT_IDS": agents}
    hp_config = HyperparameterConfig(**{n: RLParameter(min=1e-4, max=1e-2) for n in s.lr_names()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pop = create_population(s.algo, NET_CONFIG, hp, [env.single_observation_space(a) for a in agents],
                                [env.single_action_space(a) for a in agents], hp_config=hp_config,
                                population_size=s.pop, num_envs=s.num_envs)
    tournament = TournamentSelection(2, True, s.pop)
    mutation = Mutations(**MUTATION, rand_seed=s.seed)
    common = dict(max_steps=s.steps, evo_steps=s.evo_steps, eval_loop=1, selection_strategy=tournament,
                  mutation=mutation, verbose=False)
    from agilerl.training.train_multi_agent_off_policy import train_multi_agent_off_policy
    from agilerl.training.train_multi_agent_on_policy import train_multi_agent_on_policy

    start, cpu = time.perf_counter(), cpu_seconds()
    if s.on_policy:

        pop, _ = train_multi_agent_on_policy(env, s.env, s.algo, pop, **common)
    else:
        pop, _ = train_multi_agent_off_policy(env, s.env, s.algo, pop, ReplayBuffer(100_000), learning_delay=0,
                                              **common)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu  # the trainer joins the env workers at its end
    transitions = int(np.sum([a.metrics.steps for a in pop]))
    return {"transitions": transitions, "wall": wall, "cpu": cpu}


def run_evo_marl(s: Setting) -> dict:
    import tempfile

    from evo_marl import (HyperparameterConfig, MultiAgentReplayBuffer, Mutations, RLParameter, TournamentSelection,
                          create_population, make_vec_env, train_multi_agent_off_policy, train_multi_agent_on_policy)

    env = make_vec_env(s.env, num_envs=s.num_envs, seed=s.seed, **s.env_kwargs)
    agents = list(env.agents)
    hp = {**s.init_hp(), "AGENT_IDS": agents}
    hp_config = HyperparameterConfig(**{n: RLParameter(min=1e-4, max=1e-2) for n in s.lr_names()})
    pop = create_population(s.algo, [env.single_observation_space(a) for a in agents],
                            [env.single_action_space(a) for a in agents], NET_CONFIG, hp, hp_config=hp_config,
                            population_size=s.pop, num_envs=s.num_envs, seed=s.seed)
    tournament = TournamentSelection(2, True, s.pop, eval_loop=1)
    mutation = Mutations(**MUTATION)
    with tempfile.TemporaryDirectory() as run_dir:
        common = dict(INIT_HP=hp, max_steps=s.steps, evo_steps=s.evo_steps, eval_loop=1, tournament=tournament,
                      mutation=mutation, checkpoint=False, verbose=False, seed=s.seed, run_dir=run_dir)
        start, cpu = time.perf_counter(), cpu_seconds()
        if s.on_policy:
            pop, _ = train_multi_agent_on_policy(env, s.env, s.algo, pop, **common)
        else:
            memory = MultiAgentReplayBuffer(100_000, ["obs", "action", "reward", "next_obs", "termination", "active"],
                                            agent_ids=agents)
            pop, _ = train_multi_agent_off_policy(env, s.env, s.algo, pop, memory, learning_delay=0, **common)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    transitions = int(sum(m.steps[-1] for m in pop))
    return {"transitions": transitions, "wall": wall, "cpu": cpu}


SIDES = {"agilerl": run_agilerl, "evo-marl": run_evo_marl}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have been waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=sorted(SIDES), required=True)
    parser.add_argument("--setting", required=True, help="a Setting as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    setting = Setting(**json.loads(args.setting))
    result = SIDES[args.side](setting)
    result.update(side=args.side, setting=asdict(setting), rate=result["transitions"] / result["wall"],
                  cpu_rate=result["transitions"] / result["cpu"])
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
