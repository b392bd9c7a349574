"""Raw Bucket Brigade env speed: agent-steps per second with uniformly random actions.

Measures the batched vector env (``evo_marl.make_vec_env("bucket_brigade/<scenario>", num_envs=E)``,
auto-reset, observations, episode metrics: everything a trainer gets) at E = 1, 64 and 4096, the
PettingZoo ``ParallelEnv`` (one env, dict API), and the scalar transcription of the reference rules
(:mod:`evo_marl.envs.bucket_brigade.reference`, no observations) for comparison. Rates are given per
second of wall clock and per CPU-second of this process (the same on an idle machine; the CPU-time rate
is the one to read when other processes share the cores). Random actions are
drawn inside the timed loop (one ``integers`` call per vector step, split into per-agent arrays). One agent-step = one agent acting for one night.

Usage::

    python benchmarks/bench_bucket_brigade_env.py [--scenario default] [--seconds 3] [--mode fast]
        [--envs 1 64 4096] [--markdown benchmarks/results/bucket_brigade_env.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

import evo_marl
from evo_marl.envs.bucket_brigade import load_scenario, parallel_env
from evo_marl.envs.bucket_brigade.reference import ReferenceEnv
from results_file import write_results


def _timed(step, seconds: float, chunk: int) -> tuple[int, float, float]:
    """Call ``step`` in chunks until ``seconds`` of wall time pass: (calls, wall s, CPU s of this process)."""
    calls, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while True:
        for _ in range(chunk):
            step()
        calls += chunk
        wall = time.perf_counter() - wall0
        if wall >= seconds:
            return calls, wall, time.process_time() - cpu0


def bench_vec(scenario: str, num_envs: int, seconds: float, mode: str) -> tuple[float, float, int]:
    env = evo_marl.make_vec_env(f"bucket_brigade/{scenario}", num_envs=num_envs, seed=0, mode=mode)
    rng = np.random.default_rng(1)
    nvec = env.single_action_space(env.possible_agents[0]).nvec
    agents = env.possible_agents
    env.reset(seed=0)

    def step():  # one draw for all agents, split into per-agent views
        acts = rng.integers(0, nvec, size=(len(agents), num_envs, len(nvec)))
        env.step({a: acts[i] for i, a in enumerate(agents)})

    for _ in range(5):  # warm-up
        step()
    steps, wall, cpu = _timed(step, seconds, 10)
    per_step = num_envs * env.num_agents
    return steps * per_step / wall, steps * per_step / cpu, steps


def bench_parallel(scenario: str, seconds: float, mode: str) -> tuple[float, float]:
    env = parallel_env(scenario, mode=mode)
    rng = np.random.default_rng(1)
    env.reset(seed=0)
    nvec = env.action_space(env.possible_agents[0]).nvec

    def step():
        if not env.agents:
            env.reset()
        acts = rng.integers(0, nvec, size=(len(env.agents), len(nvec)))
        env.step({a: acts[i] for i, a in enumerate(env.agents)})

    steps, wall, cpu = _timed(step, seconds, 100)
    n = len(env.possible_agents)
    return steps * n / wall, steps * n / cpu


def bench_reference(scenario: str, seconds: float) -> tuple[float, float]:
    env = ReferenceEnv(scenario)
    rng = np.random.default_rng(1)
    env.reset(seed=0)

    def step():
        if env.done:
            env.reset()
        env.step(rng.integers(0, (env.num_houses, 2), size=(env.num_agents, 2)))

    steps, wall, cpu = _timed(step, seconds, 100)
    return steps * env.num_agents / wall, steps * env.num_agents / cpu


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--mode", default="fast", choices=["fast", "parity"])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 64, 4096])
    parser.add_argument("--markdown", default=None, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    num_agents = load_scenario(args.scenario).num_agents
    rows = []
    for num_envs in args.envs:
        wall, cpu, steps = bench_vec(args.scenario, num_envs, args.seconds, args.mode)
        rows.append((f"vector env, {num_envs} envs ({args.mode})", wall, cpu))
        print(f"{rows[-1][0]:40s} {wall:12,.0f} agent-steps/s wall, {cpu:12,.0f} per CPU-s ({steps} steps)", flush=True)
    rows.append((f"PettingZoo ParallelEnv, 1 env ({args.mode})", *bench_parallel(args.scenario, args.seconds, args.mode)))
    rows.append(("scalar reference rules, 1 env (no obs)", *bench_reference(args.scenario, args.seconds)))
    for name, wall, cpu in rows[-2:]:
        print(f"{name:40s} {wall:12,.0f} agent-steps/s wall, {cpu:12,.0f} per CPU-s", flush=True)
    load_after = os.getloadavg()[0]
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after", flush=True)
    table = ("| env | agent-steps/s (wall clock) | env-steps/s (wall clock) | agent-steps per CPU-second |\n"
             "|---|---:|---:|---:|\n") + "".join(
        f"| {name} | {wall:,.0f} | {wall / num_agents:,.0f} | {cpu:,.0f} |\n" for name, wall, cpu in rows)
    if args.markdown:
        cmd = "python benchmarks/bench_bucket_brigade_env.py " + " ".join(argv if argv is not None else sys.argv[1:])
        header = (f"# Bucket Brigade env throughput\n\n- date: {datetime.date.today().isoformat()}\n"
                  f"- command: `{cmd.strip()}`\n- scenario: `{args.scenario}`, "
                  f"uniformly random actions, auto-reset\n- machine: {platform.processor() or platform.machine()}, "
                  f"{os.cpu_count()} cores visible, Python {platform.python_version()}, NumPy {np.__version__}\n"
                  f"- 1-minute load average {load_before:.2f} before and {load_after:.2f} after the run "
                  f"(other processes share the machine)\n\n")
        write_results(args.markdown, (header + table).rstrip("\n").split("\n"))  # keeps "## Notes"
    return table


if __name__ == "__main__":
    main()
