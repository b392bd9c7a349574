"""Off-policy training throughput (transitions per second with learning on) and where the time goes.

Setting of the AgileRL 2.58 peer measured on this machine class (≈ 546 transitions/s): population 4,
8 envs per member, batch 64, learn_step 16, [64, 64] networks, mpe2 simple_speaker_listener_v4.

    python benchmarks/bench_off_policy_throughput.py [--algos MADDPG MATD3] [--steps 20000]
        [--env mpe2/simple_speaker_listener_v4] [--out benchmarks/results/off_policy_throughput.md]

Reports wall-clock transitions/s over the whole run (collection, learning, evaluation, evolution,
checkpointing) and the split of the time per phase, plus the env alone for reference. One transition is
one sub-env step (all agents acting once), as counted by the peer. With ``--out`` the table is written as
Markdown (a ``## Notes`` section already at the end of that file is kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date

import numpy as np
import torch

from evo_marl import MultiAgentReplayBuffer, create_population, make_vec_env, train_multi_agent_off_policy
from evo_marl.tracking.writers import RecordList
from results_file import write_results


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


def measure(algo: str, env_id: str, pop_size: int, num_envs: int, steps: int, evo_steps: int) -> dict:
    """Train one population; wall time, transitions/s and the per-phase split."""
    env = make_vec_env(env_id, num_envs=num_envs, seed=0)
    hp = {"BATCH_SIZE": 64, "LEARN_STEP": 16, "AGENT_IDS": env.agents}
    pop = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [64, 64]}, hp,
                            population_size=pop_size, num_envs=num_envs, seed=0)
    memory = MultiAgentReplayBuffer(100_000, ["obs", "action", "reward", "next_obs", "termination", "active"],
                                    agent_ids=env.agents)
    timing = RecordList()  # each generation's phase timings
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        train_multi_agent_off_policy(env, "bench", algo, pop, memory, INIT_HP=hp, max_steps=steps,
                                     evo_steps=evo_steps, eval_loop=1, learning_delay=0, seed=0,
                                     run_dir=run_dir, verbose=False, writers=[timing])
        wall = time.perf_counter() - start
    phases: dict[str, float] = {}
    for record in timing.records:
        for name, seconds in record.timings.items():
            phases[name] = phases.get(name, 0.0) + seconds
    phases["other"] = wall - sum(phases.values())
    transitions = steps * pop_size
    return {"algo": algo, "transitions": transitions, "wall": wall, "rate": transitions / wall, "phases": phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["MADDPG", "MATD3"])
    parser.add_argument("--env", default="mpe2/simple_speaker_listener_v4")
    parser.add_argument("--pop", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per member")
    parser.add_argument("--evo-steps", type=int, default=5_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the results as Markdown to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    results = [measure(a, args.env, args.pop, args.num_envs, args.steps, args.evo_steps) for a in args.algos]
    env_rate = env_only(args.env, args.num_envs * args.pop, 300)
    order = ["env", "acting", "buffer", "learning", "evaluation", "evolution", "other"]
    lines = [f"# Off-policy training throughput on {args.env}", "",
             f"Command: `python benchmarks/bench_off_policy_throughput.py --algos {' '.join(args.algos)} "
             f"--steps {args.steps}`  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, torch {torch.__version__}, {args.threads} torch thread(s); "
             f"load average before: {os.getloadavg()[0]:.2f}", "",
             f"Setting of the peer: population {args.pop} x {args.num_envs} envs per member, batch 64, learn_step 16, "
             "[64, 64] networks, eval_loop 1, no learning delay. The peer (AgileRL 2.58 MADDPG) does about "
             "546 transitions/s here; the target is >= 4x (2,184/s).", "",
             "| algo | transitions | wall (s) | transitions / s | x peer | " + " | ".join(order) + " |",
             "|---|---|---|---|---|" + "---|" * len(order)]
    for r in results:
        split = " | ".join(f"{100 * r['phases'].get(name, 0.0) / r['wall']:.0f} %" for name in order)
        lines.append(f"| {r['algo']} | {r['transitions']:,} | {r['wall']:.1f} | {r['rate']:,.0f} | "
                     f"{r['rate'] / 546:.1f} | {split} |")
    lines += ["", f"The env alone ({args.num_envs * args.pop} sub-envs, random actions): {env_rate:,.0f} sub-env "
              f"steps/s ({1e6 / env_rate:.0f} us per sub-env step), the ceiling for any trainer on this env.",
              "'other' is checkpointing and set-up."]
    print("\n".join(lines))
    if args.out:
        write_results(args.out, lines)


if __name__ == "__main__":
    main()
