#!/usr/bin/env bash
# The side-by-side benchmark in one command: build the AgileRL venv if it is missing, then measure AgileRL
# 2.58 and evo-marl back to back and (re)write benchmarks/results/peer_comparison.md (+ .png, + .log).
# Takes two hours or more on 2 cores (AgileRL's population-32 runs dominate; longer on a busy machine); the
# results file is rewritten after every measurement. Extra arguments go to
# compare.py, e.g. `bash benchmarks/peer/run.sh --only headline`.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${AGILERL_VENV:-.venv-agilerl}"
if ! "$venv/bin/python" -c "import agilerl, evo_marl" 2>/dev/null; then
  bash benchmarks/peer/setup_agilerl_venv.sh "$venv"
fi
exec nice -n "${NICE:-10}" "$venv/bin/python" benchmarks/peer/compare.py --out benchmarks/results/peer_comparison.md "$@"
