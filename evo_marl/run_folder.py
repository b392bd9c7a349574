"""The layout of a run folder (``populations/<run>/``): generation folders, manifests, atomic file writes.

Shared by the trainers (which write checkpoints) and by tracking and reports (which read them).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from evo_marl.errors import CheckpointError

FORMAT_VERSION = 2  # 2: typed hyperparameters; IPPO's learn_step counts env transitions
_GEN_RE = re.compile(r"^generation_(\d+)$")


def generation_dirs(run_dir: str | Path) -> list[Path]:
    """Generation folders of a run (complete or not), oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := _GEN_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_generation(run_dir: str | Path) -> Path | None:
    """The newest generation folder of a run, or None."""
    dirs = generation_dirs(run_dir)
    return dirs[-1] if dirs else None


def json_default(value: Any) -> Any:
    """JSON encoding of numpy values, sets and tuples (anything else as its string)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON and fsync it (callers make the folder appear atomically)."""
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=json_default)
        f.flush()
        os.fsync(f.fileno())


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: a reader sees the old or the new file, never a torn one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(generation_dir: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` of a generation folder, checked for format and required fields."""
    path = Path(generation_dir) / "manifest.json"
    if not path.exists():
        raise CheckpointError(f"{path}: missing; {generation_dir} is not a complete generation folder")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: corrupt JSON ({err})") from err
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{path}: must hold a JSON object, found {type(manifest).__name__}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version={manifest.get('format_version')!r}, expected {FORMAT_VERSION} "
                              "(written by another evo-marl version)")
    for key in ("generation", "members"):
        if key not in manifest:
            raise CheckpointError(f"{path}: field {key!r} is missing")
    return manifest
