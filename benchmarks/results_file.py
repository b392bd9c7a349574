"""Writing a benchmark's Markdown results file (shared by the benchmark scripts, which run from this folder)."""

from __future__ import annotations

from pathlib import Path

NOTES_MARKER = "## Notes"


def write_results(path: str | Path, lines: list[str]) -> Path:
    """Write ``lines`` to ``path``, keeping a hand-written ``## Notes`` section at the end of the old file."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    if NOTES_MARKER in old:
        lines = [*lines, "", old[old.index(NOTES_MARKER):].rstrip()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
