#!/usr/bin/env bash
# Create the project's virtual environment (if missing) and install evo-marl with its extras.
#
# torch: where pip can find a CPU build of torch on local disk (a wheel in pip's find-links), that
# build is installed first, so the dependency resolver keeps it instead of downloading a multi-GB
# CUDA build. Elsewhere pip simply resolves `torch>=2.2` from the index as usual: no version is pinned.
set -euo pipefail
venv="${1:-.venv}"
extras="${2:-dev,mpe,notebooks}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtual environment in $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  if "${pip[@]}" install -q --no-index --no-deps --only-binary=:all: "torch>=2.2" 2>/dev/null; then
    echo "[setup] installed torch from a local wheel (its dependencies follow)"
  else
    echo "[setup] no local torch wheel found; torch will come from the package index"
  fi
fi

echo "[setup] installing evo-marl[$extras] (editable)"
"${pip[@]}" install -q -e ".[$extras]" 2>&1 | grep -v -E "^WARNING: Location .* is ignored" || true
"$venv/bin/python" -c "import evo_marl, torch; print(f'[setup] evo-marl {evo_marl.__version__}, torch {torch.__version__}')"
