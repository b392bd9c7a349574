"""Run every benchmark in turn and (re)write its results file in ``benchmarks/results/`` (``make bench``).

    python benchmarks/run_all.py [--only atc_env throughput ...] [--list]

The benchmarks run one after another (each measures wall time, so running them side by side on two cores
would only measure the contention). The learning benchmarks take the longest: expect about an hour
for the set without ``atc_generalisation``, which alone trains for hours on a 2-core machine. Hand-written ``## Notes`` sections in the results files are kept.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS: dict[str, list[str]] = {
    "atc_env": ["bench_atc_env.py", "--seconds", "3", "--repeats", "5", "--write", "results/atc_env.md"],
    "bucket_brigade_env": ["bench_bucket_brigade_env.py", "--seconds", "5", "--markdown", "results/bucket_brigade_env.md"],
    "throughput": ["bench_off_policy_throughput.py", "--out", "results/off_policy_throughput.md"],
    "mpe_ports": ["bench_mpe_ports.py", "--out", "results/mpe_ports.md"],
    "mpe_learning": ["bench_mpe_learning.py", "--out", "results/mpe_learning.md"],
    "atc_learning": ["bench_atc_learning.py", "--seeds", "0", "1", "2", "--out", "results/atc_learning.md"],
    "atc_learning_other_scenarios": ["bench_atc_learning.py", "--configs", "atc_t_formation_matd3",
                                     "atc_canonical_crossing_matd3", "atc_converging_matd3",
                                     "--out", "results/atc_learning_other_scenarios.md"],
    "bucket_brigade_learning": ["bench_bucket_brigade_learning.py", "--out", "results/bucket_brigade_learning.md"],
    "kill_resume": ["bench_kill_resume.py", "--cycles", "20", "--seed", "0", "--out", "results/kill_resume.md"],
    "atc_observation": ["bench_atc_observation.py", "--out", "results/atc_observation.md"],
    # hours on 2 cores: trains three seeds of the generalist recipe (run it alone with --only)
    "atc_generalisation": ["bench_atc_generalisation.py", "--configs", "atc_generalist_ippo",
                           "--seeds", "0", "1", "2", "--out", "results/atc_generalisation.md"],
}


def command(name: str) -> list[str]:
    script, *args = BENCHMARKS[name]
    args = [str(HERE / a) if a.startswith("results/") else a for a in args]
    return [sys.executable, str(HERE / script), *args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run just these")
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    args = parser.parse_args()
    names = args.only or list(BENCHMARKS)
    failed = []
    for name in names:
        cmd = command(name)
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        if args.list:
            continue
        start = time.perf_counter()
        if subprocess.run(cmd, cwd=HERE.parent).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
