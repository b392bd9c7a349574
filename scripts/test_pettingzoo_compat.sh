#!/usr/bin/env bash
# PettingZoo compatibility check: run the env API tests under older PettingZoo releases, one small cached venv each.
#
#   scripts/test_pettingzoo_compat.sh            # every release in RELEASES below
#   scripts/test_pettingzoo_compat.sh 1.26.1     # only the named ones
#
# Each venv (.venv-compat/pettingzoo-<version>/, git-ignored) gets torch (from local disk where a wheel lies
# there, as in setup_venv.sh), evo-marl (editable) with its declared dependencies, pytest and the pins below.
# A venv is reused while its pins, pyproject.toml and this script are unchanged (a stamp file records them),
# so a warm re-run only runs the tests. The latest PettingZoo is the shared venv's and runs in `make test`.
# Environment: COMPAT_DIR (default .venv-compat), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

# pettingzoo version -> the pins installed beside it. 1.24.0 is the oldest release evo-marl supports; it runs with
# the oldest gymnasium (0.29.1) and a NumPy 1.x, the oldest combination pyproject.toml allows. 1.25+ need
# gymnasium >= 1.0 (pip picks the newest).
declare -A RELEASES=(
  [1.24.0]="pettingzoo==1.24.0 gymnasium==0.29.1 numpy==1.26.4"
  [1.26.1]="pettingzoo==1.26.1"
)
TESTS=(tests/test_pettingzoo_compat.py tests/envs tests/test_gym_adapter.py)

compat_dir="${COMPAT_DIR:-.venv-compat}"
python="${PYTHON:-python3}"
if [ $# -gt 0 ]; then versions=("$@"); else mapfile -t versions < <(printf '%s\n' "${!RELEASES[@]}" | sort -V); fi

setup_venv() {  # $1 version, $2 venv folder
  local version=$1 venv=$2 pins=${RELEASES[$1]}
  local stamp; stamp=$(cat pyproject.toml "$0" | sha256sum | cut -c1-16)
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then
    return 0
  fi
  echo "[compat] building $venv ($pins)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  local pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  "${pip[@]}" install --no-index --no-deps --only-binary=:all: "torch>=2.2" 2>/dev/null \
    || echo "[compat] no local torch wheel found; torch will come from the package index"
  # shellcheck disable=SC2086  # the pins are separate words
  if ! "${pip[@]}" install -e . pytest $pins > "$venv/pip.log" 2>&1; then
    grep -v -E "^WARNING: Location .* is ignored" "$venv/pip.log" >&2
    echo "[compat] $venv: pip could not install evo-marl with $pins" >&2
    return 1
  fi
  echo "$stamp" > "$venv/.stamp"
}

failed=()
for version in "${versions[@]}"; do
  if [ -z "${RELEASES[$version]+set}" ]; then
    echo "[compat] unknown PettingZoo release '$version': known releases are ${!RELEASES[*]}" >&2
    exit 2
  fi
  venv="$compat_dir/pettingzoo-$version"
  start=$SECONDS
  if ! setup_venv "$version" "$venv"; then
    failed+=("$version")
    continue
  fi
  "$venv/bin/python" -c "import importlib.metadata as m; print('[compat] ' + ', '.join(
      f'{p} {m.version(p)}' for p in ('pettingzoo', 'gymnasium', 'numpy', 'torch')))"
  if "$venv/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}"; then
    echo "[compat] pettingzoo $version: passed ($((SECONDS - start)) s)"
  else
    echo "[compat] pettingzoo $version: FAILED ($((SECONDS - start)) s)"
    failed+=("$version")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "[compat] failed under pettingzoo ${failed[*]}" >&2
  exit 1
fi
