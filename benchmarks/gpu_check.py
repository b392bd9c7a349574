"""The GPU path in one command: the CUDA tests, then training throughput on the GPU next to the CPU.

    python benchmarks/gpu_check.py [--steps 10000] [--pops 4 16 64] [--out benchmarks/results/gpu_check.md]

1. Runs the CUDA tests (``tests/test_gpu.py`` and the other ``needs CUDA`` tests): batched learning equals
   member-by-member learning on the device; a batched learning step (off-policy rounds, PPO epochs) never makes
   the host wait for the device (``torch.cuda.set_sync_debug_mode("error")``); buffer, networks and optimizer
   state stay on the device through a whole training run.
2. Measures transitions/s of training (batched learning on) with ``device="cuda"`` and with the CPU, back to
   back, in the setting of ``benchmarks/bench_batched_learning.py`` (MADDPG / MATD3 on ATC head_on, IPPO on ATC
   head_on; population sizes ``--pops``). The env always steps on the CPU (it is NumPy); on the GPU only the
   env boundary (observations in, actions out, transitions into the buffer) crosses to the host.

Exits with status 1 if a test fails, 2 if this machine has no CUDA device (nothing is measured then).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
CUDA_TESTS = ["tests/test_gpu.py", "tests/test_networks.py::test_cuda_parameters_stay_on_device",
              "tests/test_replay_buffer.py::test_cuda_device"]


def run_tests() -> tuple[bool, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", *CUDA_TESTS]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    return proc.returncode == 0, f"$ {' '.join(cmd[2:])}\n{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="env steps per member")
    parser.add_argument("--pops", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device on this machine: nothing to check (the CUDA tests skip here)")
        sys.exit(2)
    from bench_batched_learning import train
    from results_file import write_results

    torch.set_num_threads(1)
    ok, log = run_tests()
    print(log, flush=True)
    lines = ["# GPU check", "", f"Command: `python benchmarks/gpu_check.py --steps {args.steps} --pops "
             f"{' '.join(map(str, args.pops))}`  ", f"Date: {date.today()}  ",
             f"Machine: {torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores, {platform.python_version()}, "
             f"torch {torch.__version__}, 1 torch thread", "", "## CUDA tests", "",
             f"{'passed' if ok else 'FAILED'}:", "", "```", log, "```", "",
             "## Throughput (transitions/s, batched learning on; the env steps on the CPU)", "",
             "| algo | env | population | CPU | CUDA | CUDA / CPU |", "|---|---|---|---|---|---|"]
    for algo in ("MADDPG", "MATD3", "IPPO"):
        for pop in args.pops:
            rates = {device: train(algo, "atc/head_on", pop, args.steps, True, device=device)["rate"]
                     for device in ("cpu", "cuda")}
            line = (f"| {algo} | ATC head_on | {pop} | {rates['cpu']:,.0f} | {rates['cuda']:,.0f} | "
                    f"{rates['cuda'] / rates['cpu']:.2f}x |")
            print(line, flush=True)
            lines.append(line)
    print("\n".join(lines))
    if args.out:
        write_results(args.out, lines)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
