#!/usr/bin/env bash
# Run the AgileRL-dependent tests inside the AgileRL venv (building it if needed): the optional engine
# (tests/test_agilerl_engine.py) and the AgileRL recipe of docs/interop.md (examples/interop/agilerl_atc.py,
# a short run). The project's default test suite skips both (it has pettingzoo>=1.27, AgileRL 2.58 pins <1.27).
#
#   bash benchmarks/peer/test_agilerl.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${AGILERL_VENV:-.venv-agilerl}"
if ! "$venv/bin/python" -c "import agilerl, evo_marl, pytest" 2>/dev/null; then
  bash benchmarks/peer/setup_agilerl_venv.sh "$venv"
fi
export WANDB_MODE=offline
echo "== tests/test_agilerl_engine.py (AgileRL $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("agilerl"))'))"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_agilerl_engine.py tests/test_engines.py "$@"
echo "== examples/interop/agilerl_atc.py --steps 2000"
"$venv/bin/python" examples/interop/agilerl_atc.py --steps 2000 2>&1 | grep -v "Training Progress"
echo "== all AgileRL checks passed"
