"""Off-policy training throughput (transitions per second with learning on) and where the time goes.

Setting of the AgileRL 2.58 peer measured on this machine class (≈ 546 transitions/s): population 4,
8 envs per member, batch 64, learn_step 16, [64, 64] networks, mpe2 simple_speaker_listener_v4.

    python benchmarks/bench_off_policy_throughput.py [--algo MADDPG] [--steps 20000] [--env mpe2/simple_speaker_listener_v4]

Reports wall-clock transitions/s over the whole run (collection, learning, evaluation, evolution,
checkpointing) and the split of the time per phase, plus the env alone for reference.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from evo_marl import MultiAgentReplayBuffer, create_population, make_vec_env, train_multi_agent_off_policy
from evo_marl.tracking.writers import MetricWriter


class TimingWriter:
    """Collects each generation's phase timings."""

    def __init__(self):
        self.records = []

    def write_generation(self, record) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


def env_only(env_id: str, num_envs: int, steps: int) -> float:
    """Vector steps of random actions per second x num_envs (sub-env steps per second)."""
    env = make_vec_env(env_id, num_envs=num_envs, seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = {a: np.stack([env.single_action_space(a).sample() for _ in range(num_envs)]) for a in env.agents}
    start = time.perf_counter()
    for _ in range(steps):
        for a in env.agents:
            actions[a] = rng.uniform(0, 1, actions[a].shape).astype(np.float32)
        env.step(actions)
    return steps * num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="MADDPG")
    parser.add_argument("--env", default="mpe2/simple_speaker_listener_v4")
    parser.add_argument("--pop", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per member")
    parser.add_argument("--evo-steps", type=int, default=5_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    env = make_vec_env(args.env, num_envs=args.num_envs, seed=0)
    hp = {"BATCH_SIZE": 64, "LEARN_STEP": 16, "AGENT_IDS": env.agents}
    pop = create_population(args.algo, [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [64, 64]}, hp,
                            population_size=args.pop, num_envs=args.num_envs, seed=0)
    memory = MultiAgentReplayBuffer(100_000, ["obs", "action", "reward", "next_obs", "termination", "active"],
                                    agent_ids=env.agents)
    timing: MetricWriter = TimingWriter()
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        train_multi_agent_off_policy(env, "bench", args.algo, pop, memory, INIT_HP=hp, max_steps=args.steps,
                                     evo_steps=args.evo_steps, eval_loop=1, learning_delay=0, seed=0,
                                     run_dir=run_dir, verbose=False, writers=[timing])
        wall = time.perf_counter() - start
    transitions = args.steps * args.pop
    phases: dict[str, float] = {}
    for record in timing.records:
        for name, seconds in record.timings.items():
            phases[name] = phases.get(name, 0.0) + seconds
    print(f"{args.algo} on {args.env}: population {args.pop} x {args.num_envs} envs, batch 64, learn_step 16, "
          f"[64, 64], {args.threads} torch thread(s)")
    print(f"transitions: {transitions}, wall: {wall:.1f} s -> {transitions / wall:,.0f} transitions/s "
          f"(peer AgileRL 2.58: ~546/s)")
    accounted = sum(phases.values())
    for name, seconds in sorted(phases.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<11} {seconds:7.2f} s  {100 * seconds / wall:5.1f} %")
    print(f"  {'other':<11} {wall - accounted:7.2f} s  {100 * (wall - accounted) / wall:5.1f} % (checkpoints, set-up)")
    rate = env_only(args.env, args.num_envs * args.pop, 300)
    print(f"env alone ({args.num_envs * args.pop} sub-envs, random actions): {rate:,.0f} sub-env steps/s "
          f"({1e6 / rate:.0f} us per step)")


if __name__ == "__main__":
    main()
