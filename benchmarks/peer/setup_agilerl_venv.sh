#!/usr/bin/env bash
# Build (or refresh) a separate virtual environment with AgileRL 2.58.0, for the side-by-side benchmark
# (benchmarks/peer/compare.py) and the optional AgileRL engine's tests (benchmarks/peer/test_agilerl.sh).
#
#   bash benchmarks/peer/setup_agilerl_venv.sh [VENV]        # default: .venv-agilerl (git-ignored)
#
# AgileRL 2.58 pins pettingzoo<1.27 and imports peft and transformers, so it cannot share the project's
# venv. torch is installed first and pinned by a constraint (a CPU build from pip's find-links where one
# lies on local disk), so the resolver keeps it instead of downloading a multi-GB CUDA build. evo-marl
# itself is installed editable without dependencies (its pettingzoo>=1.27 pin would fight AgileRL's);
# its other dependencies come with AgileRL's or are listed below.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${1:-.venv-agilerl}"
python="${PYTHON:-python3}"
torch_version="${TORCH_VERSION:-2.13.0}"

if [ ! -x "$venv/bin/python" ]; then
  echo "[agilerl-venv] creating $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==$torch_version" > "$constraints"

"${pip[@]}" install -q "torch==$torch_version" -c "$constraints"
echo "[agilerl-venv] installing agilerl==2.58.0 (+ peft, transformers, mpe2, pytest)"
"${pip[@]}" install -q -c "$constraints" "agilerl==2.58.0" peft transformers "mpe2>=1.0" pytest \
  pyyaml matplotlib tqdm
"${pip[@]}" install -q --no-deps -e .
"$venv/bin/python" - <<'PY'
import agilerl, pettingzoo, torch
from importlib.metadata import version
import evo_marl
print(f"[agilerl-venv] agilerl {version('agilerl')}, pettingzoo {pettingzoo.__version__}, torch {torch.__version__}, "
      f"evo-marl from {evo_marl.__file__}")
PY
