"""Writing a benchmark's Markdown results file (shared by the benchmark scripts, which run from this folder)."""

from __future__ import annotations

import subprocess
from pathlib import Path

NOTES_MARKER = "## Notes"
RESULTS = "benchmarks/results"  # results files, relative to the repository root


def code_version(where: str | Path = Path(__file__).parent) -> str:
    """The git commit of the checkout at ``where`` (short hash, ``+dirty`` with uncommitted changes to tracked
    files other than ``benchmarks/results/``, which benchmarks write as they run), or ``unknown`` outside a git
    checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", f":(top,exclude){RESULTS}")
        return commit + ("+dirty" if changes else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_results(path: str | Path, lines: list[str]) -> Path:
    """Write ``lines`` to ``path``, keeping a hand-written ``## Notes`` section at the end of the old file."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    if NOTES_MARKER in old:
        lines = [*lines, "", old[old.index(NOTES_MARKER):].rstrip()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
