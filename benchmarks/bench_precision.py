"""Mixed-precision learning (``training.precision: bfloat16``) against float32: wall time per generation, learning
time and transitions/s of the same experiments, run alternately on this machine.

    python benchmarks/bench_precision.py [--cases generalist make_train head_on_pop16] [--repeats 2]
        [--out benchmarks/results/mixed_precision.md]

Cases (one or two generations each, the run's first generation included):

* ``generalist``: ``configs/atc_generalist_ippo.yaml`` (IPPO, [256, 256] networks, population 4, 16 envs per
  member) on the curriculum's last stage (2-6 aircraft), one generation of 50k env steps per member.
* ``make_train``: the default experiment (MATD3 on ATC head_on, [64, 64], population 4), two generations.
* ``head_on_pop16``: MADDPG on ATC head_on with the side-by-side benchmark's settings (batch 64, learn_step 16,
  [64, 64]) at population 16, two generations of 2,400 env steps per member.

Transitions/s: env steps of all members per second of wall time (learning, acting, evaluation, selection,
checkpoints). The machine's bfloat16 support is printed: where bfloat16 is emulated it is slower.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from evo_marl.config import load_config
from evo_marl.experiment import run_experiment
from evo_marl.population.precision import native_bfloat16
from results_file import code_version, write_results

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "generalist": (ROOT / "configs/atc_generalist_ippo.yaml",
                   ["training.max_steps=50000", "training.evo_steps=50000", "env.kwargs.schedule_at=1000000"]),
    "make_train": (ROOT / "evo_marl/default_experiment.yaml",
                   ["training.max_steps=10000", "training.evo_steps=5000", "training.stopping.criteria={}"]),
    "head_on_pop16": ({"algo": "MADDPG", "population_size": 16, "env": {"id": "atc/head_on", "num_envs": 8},
                       "net_config": {"hidden_size": [64, 64]},
                       "init_hp": {"BATCH_SIZE": 64, "LEARN_STEP": 16},
                       "training": {"max_steps": 4800, "evo_steps": 2400, "eval_loop": 1, "learning_delay": 0}}, []),
}
COMMON = ["output.plots=false", "output.checkpoint=false"]


def measure(case: str, precision: str) -> dict[str, float]:
    """Train the case once; wall time per generation, learning time per generation and transitions/s."""
    source, overrides = CASES[case]
    with tempfile.TemporaryDirectory() as root:
        config = load_config(source, [*overrides, *COMMON, f"output.root={root}", f"training.precision={precision}",
                                      "name=bench"])
        start = time.perf_counter()
        run_experiment(config, verbose=False)
        wall = time.perf_counter() - start
        rows = list(csv.DictReader(open(Path(root) / "bench" / "generations.csv")))
    steps = float(rows[-1]["train/total_steps"])
    return {"generations": len(rows), "wall": wall / len(rows),
            "learning": sum(float(r["time/learning"]) for r in rows) / len(rows),
            "transitions_per_s": steps / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each precision")
    parser.add_argument("--out", default=None, help="write the table as Markdown (a '## Notes' section is kept)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    native = native_bfloat16(torch.device("cpu"))
    print(f"native bfloat16 on this CPU: {native}")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for case in args.cases:
        for _ in range(args.repeats):
            for precision in ("float32", "bfloat16"):
                r = measure(case, precision)
                results.setdefault((case, precision), []).append(r)
                print(f"{case:14s} {precision:9s} {r['wall']:7.1f} s per generation, learning {r['learning']:6.1f} s, "
                      f"{r['transitions_per_s']:8.0f} transitions/s", flush=True)
    lines = ["# Mixed-precision learning: bfloat16 against float32", "",
             f"Command: `python benchmarks/bench_precision.py --cases {' '.join(args.cases)} --repeats {args.repeats}`  ",
             f"Date: {date.today()}, code {code_version()}  ",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, 1 torch thread, "
             f"native bfloat16: {native}.", "",
             "Each row: mean of the runs (runs of the two precisions alternate); `s/gen`: wall time per generation.", "",
             "| case | precision | s/gen (runs) | learning s/gen | transitions/s | speed-up |",
             "|---|---|---|---:|---:|---:|"]
    for case in args.cases:
        base = None
        for precision in ("float32", "bfloat16"):
            runs = results[(case, precision)]
            wall = sum(r["wall"] for r in runs) / len(runs)
            base = base or wall
            each = ", ".join(f"{r['wall']:.1f}" for r in runs)
            lines.append(f"| {case} | {precision} | {wall:.1f} ({each}) | "
                         f"{sum(r['learning'] for r in runs) / len(runs):.1f} | "
                         f"{sum(r['transitions_per_s'] for r in runs) / len(runs):,.0f} | {base / wall:.2f}x |")
    print("\n".join(lines))
    if args.out:
        print(f"wrote {write_results(args.out, lines)}")


if __name__ == "__main__":
    main()
