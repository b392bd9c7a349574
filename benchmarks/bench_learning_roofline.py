"""How far population-batched MADDPG / MATD3 learning is from this machine's arithmetic limit.

    python benchmarks/bench_learning_roofline.py [--algos MADDPG MATD3] [--pops 4 16] [--env atc/head_on]
        [--out benchmarks/results/learning_roofline.md]

The settings are the side-by-side benchmark's (``benchmarks/peer/sides.py``: encoder [64] -> latent 64 -> head
[64], batch 64, one learning step per 16 transitions of a member, 1 torch thread). A short training run fills
the replay buffer; then the population's batched ``learn`` (the call the trainer makes, sampling and stacking
included) is timed alone, and :class:`torch.utils.flop_counter.FlopCounterMode` counts the floating-point
operations of one call. From these:

* **learning-only rate**: transitions per second if nothing but learning took time (acting, the env, the
  buffer writes, evaluation and evolution all free): ``population x learn_step / seconds per learn call``;
* **achieved GFLOP/s** of the learn call, next to the machine's single-thread peak (a 1024 x 1024 matmul) and
  to a batched matmul of the learn call's own shapes (what MKL reaches at these sizes);
* **rate at the shapes' limit**: the learning-only rate if every FLOP ran at that batched-matmul speed.

A side-by-side ratio cannot exceed (learning-only rate) / (AgileRL's rate) with the same learning work.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from evo_marl import (MultiAgentReplayBuffer, Mutations, TournamentSelection, create_population, make_vec_env,
                      train_multi_agent_off_policy)
from evo_marl.population.off_policy import StackedOffPolicy, stacked_batch
from results_file import write_results

sys.path.insert(0, str(Path(__file__).resolve().parent / "peer"))
from sides import NET_CONFIG, Setting  # noqa: E402  (the side-by-side benchmark's settings)

BATCH, LEARN_STEP, NUM_ENVS = Setting.batch_size, Setting.learn_step, Setting.num_envs


def matmul_gflops(shape: tuple[int, int, int, int], repeats: int) -> float:
    """GFLOP/s of ``torch.bmm`` on ``[b, m, k] @ [b, k, n]`` (b = 1 for a plain matmul)."""
    b, m, k, n = shape
    x, y = torch.randn(b, m, k), torch.randn(b, k, n)
    for _ in range(10):
        torch.bmm(x, y)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.bmm(x, y)
    return 2.0 * b * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def filled_population(algo: str, env_id: str, pop_size: int, seed: int = 0):
    """A population and a replay buffer after a short training run (no evolution)."""
    env = make_vec_env(env_id, num_envs=NUM_ENVS, seed=seed)
    agents = list(env.agents)
    hp = {"BATCH_SIZE": BATCH, "LEARN_STEP": LEARN_STEP, "AGENT_IDS": agents}
    pop = create_population(algo, [env.single_observation_space(a) for a in agents],
                            [env.single_action_space(a) for a in agents], NET_CONFIG, hp,
                            population_size=pop_size, num_envs=NUM_ENVS, seed=seed)
    memory = MultiAgentReplayBuffer(100_000, ["obs", "action", "reward", "next_obs", "termination", "active"],
                                    agent_ids=agents)
    with tempfile.TemporaryDirectory() as run_dir:
        pop, _ = train_multi_agent_off_policy(
            env, env_id, algo, pop, memory, INIT_HP=hp, max_steps=2_000, evo_steps=2_000, eval_loop=1,
            tournament=TournamentSelection(2, True, pop_size, eval_loop=1), mutation=Mutations(no_mutation=1.0),
            learning_delay=0, checkpoint=False, verbose=False, seed=seed, run_dir=run_dir)
    return pop, memory


def measure(algo: str, env_id: str, pop_size: int, calls: int) -> dict:
    pop, memory = filled_population(algo, env_id, pop_size)
    learner = StackedOffPolicy(pop)
    sel = list(range(pop_size))

    def one_call() -> None:
        indices = [memory.sample_indices(BATCH) for _ in sel]
        learner.learn(sel, stacked_batch(memory, learner.template, indices), [BATCH] * pop_size)

    for _ in range(20):
        one_call()
    with FlopCounterMode(display=False) as counter:
        one_call()
    flops = counter.get_total_flops()
    start = time.perf_counter()
    for _ in range(calls):
        one_call()
    seconds = (time.perf_counter() - start) / calls
    # batched matmul at the learn call's typical shape: every member's batch through a 64 x 64 layer
    shape_gflops = matmul_gflops((pop_size, BATCH, 64, 64), 2_000)
    per_transition = flops / (pop_size * LEARN_STEP)
    return {"algo": algo, "pop": pop_size, "ms": 1e3 * seconds, "mflop": flops / 1e6,
            "gflops": flops / seconds / 1e9, "shape_gflops": shape_gflops,
            "rate": pop_size * LEARN_STEP / seconds, "rate_at_shape": shape_gflops * 1e9 / per_transition}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["MADDPG", "MATD3"])
    parser.add_argument("--pops", nargs="+", type=int, default=[4, 16])
    parser.add_argument("--env", default="atc/head_on")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/learning_roofline.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    peak = matmul_gflops((1, 1024, 1024, 1024), 20)
    lines = ["# Population-batched learning against the arithmetic limit", "",
             f"Command: `python benchmarks/bench_learning_roofline.py --algos {' '.join(args.algos)} --pops "
             f"{' '.join(map(str, args.pops))} --env {args.env}`  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python "
             f"{platform.python_version()}, torch {torch.__version__}, 1 torch thread. Single-thread peak "
             f"(1024 x 1024 matmul): **{peak:.1f} GFLOP/s**.", "",
             f"Settings of the side-by-side benchmark on `{args.env}`: batch {BATCH}, one learning step per "
             f"{LEARN_STEP} transitions of a member, networks encoder [64] -> latent 64 -> head [64]. One learn call "
             "updates every member (sampling and stacking included).", "",
             "| algo | population | ms per learn call | MFLOP per call | achieved GFLOP/s | bmm GFLOP/s at "
             "[P, 64, 64] x [P, 64, 64] | learning-only transitions/s | at the bmm speed |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for algo in args.algos:
        for pop_size in args.pops:
            r = measure(algo, args.env, pop_size, args.calls)
            lines.append(f"| {r['algo']} | {r['pop']} | {r['ms']:.2f} | {r['mflop']:.1f} | {r['gflops']:.1f} | "
                         f"{r['shape_gflops']:.1f} | {r['rate']:,.0f} | {r['rate_at_shape']:,.0f} |")
            print(lines[-1], flush=True)
    write_results(args.out, lines + [""])


if __name__ == "__main__":
    main()
