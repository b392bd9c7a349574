"""The layout of a run folder (``<root>/<run>/``) and the rules for writing into it.

Shared by the trainers (which write checkpoints and metrics) and by tracking, reports and evaluation (which
read them). What it guarantees (``docs/reliability.md``):

* every file a run rewrites is replaced atomically (:func:`atomic_file`): a reader, or a run killed at any
  moment, sees the old or the new file, never a torn one; a failed write leaves no temporary file behind;
* a generation folder appears complete or not at all (written as ``.generation_<g>.tmp``, then renamed);
  readers take the newest *complete* one (:func:`latest_complete_generation`) and skip, with a warning,
  a newest folder whose manifest is missing or invalid;
* nothing is written into a folder that holds another run unless the caller resumes or overwrites it
  (:func:`check_run_folder`, :func:`prepare_run_folder`);
* a failed write (disk full, read-only, no permission) raises one :class:`~evo_marl.errors.StorageError`
  naming the path, the cause and what the folder still holds.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from evo_marl.errors import CheckpointError, ConfigError, StorageError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: typed hyperparameters; IPPO's learn_step counts env transitions
MANIFEST_FILE = "manifest.json"
BEST_DIR = "best"  # the best member ever evaluated, in the layout of a generation folder
MEMBER_FILE = "metrics.csv"
GENERATION_FILE = "generations.csv"
#: Files that describe one run's results: replaced by ``overwrite``, never silently by a new run.
RESULT_FILES = (MEMBER_FILE, GENERATION_FILE, "report.md", "evaluation.json")
_GEN_RE = re.compile(r"^generation_(\d+)$")
_TEMPORARY_RE = re.compile(r"^\..+\.(tmp|old)$")


# ---------------------------------------------------------------------------------------------- reading
def generation_dirs(run_dir: str | Path) -> list[Path]:
    """Generation folders of a run (complete or not), oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(g, p) for p in run_dir.iterdir() if p.is_dir() and (g := generation_number(p)) is not None]
    return [p for _, p in sorted(found)]


def generation_number(path: str | Path) -> int | None:
    """The generation a ``generation_<g>`` folder holds (None for any other folder)."""
    match = _GEN_RE.match(Path(path).name)
    return int(match.group(1)) if match else None


def latest_generation(run_dir: str | Path) -> Path | None:
    """The newest generation folder of a run, complete or not (see :func:`latest_complete_generation`)."""
    dirs = generation_dirs(run_dir)
    return dirs[-1] if dirs else None


def read_manifest(generation_dir: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` of a generation (or ``best/``) folder, checked for format and required fields."""
    path = Path(generation_dir) / MANIFEST_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: missing; {generation_dir} is not a complete generation folder")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: corrupt JSON ({err})") from err
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror or err})") from err
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{path}: must hold a JSON object, found {type(manifest).__name__}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version={manifest.get('format_version')!r}, expected {FORMAT_VERSION} "
                              "(written by another evo-marl version)")
    for key in ("generation", "members"):
        if key not in manifest:
            raise CheckpointError(f"{path}: field {key!r} is missing")
    if not isinstance(manifest["members"], list) or not all(isinstance(m, dict) and isinstance(m.get("file"), str)
                                                            for m in manifest["members"]):
        raise CheckpointError(f"{path}: members must be a list of entries with a 'file' (found "
                              f"{manifest['members']!r:.80})")
    missing = [m["file"] for m in manifest["members"] if not (Path(generation_dir) / m["file"]).is_file()]
    if missing:
        raise CheckpointError(f"{generation_dir}: member files {missing} listed in {MANIFEST_FILE} are missing")
    return manifest


def trained_env_state(manifest: dict[str, Any]) -> dict[str, Any]:
    """The training env's ``state_dict`` saved with a generation (e.g. the step count a curriculum's schedule
    reads): the local trainer's ``components.env`` or the first Ray worker's; empty where the run saved none."""
    components = manifest.get("components") or {}
    envs = (components.get("env") or {}).get("envs")
    if not envs:
        workers = (components.get("ray") or {}).get("env_states") or []
        envs = next((w for w in workers if w), None)
    state = envs[0] if envs else {}
    return state if isinstance(state, dict) else {}


def complete_generations(run_dir: str | Path) -> list[Path]:
    """Generation folders with a valid manifest (and every member file it lists), oldest first."""
    complete = []
    for path in generation_dirs(run_dir):
        try:
            read_manifest(path)
        except CheckpointError:
            continue
        complete.append(path)
    return complete


def latest_complete_generation(run_dir: str | Path) -> Path | None:
    """The newest generation folder with a valid manifest; newer incomplete ones are skipped with a warning."""
    for path in reversed(generation_dirs(run_dir)):
        try:
            read_manifest(path)
        except CheckpointError as err:
            logger.warning("skipping incomplete generation folder %s (%s); using the previous complete one",
                           path, err)
            continue
        return path
    return None


def resolve_checkpoint(path: str | Path, best: bool = False) -> Path:
    """The checkpoint folder meant by ``path``: a generation or ``best/`` folder as given; a run folder -> its
    newest complete generation (``best``: its ``best/`` folder).

    Raises:
        CheckpointError: nothing loadable there (the message says what the folder holds).
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such folder (give a run folder, a generation_<g> folder or best/)")
    holds_run = (path / BEST_DIR).is_dir() or bool(generation_dirs(path))  # a run folder, whatever its name
    is_checkpoint = (path / MANIFEST_FILE).exists() or (
        not holds_run and (_GEN_RE.match(path.name) is not None or path.name == BEST_DIR))
    if best and not (is_checkpoint and path.name == BEST_DIR):
        if not (path / BEST_DIR).is_dir():
            raise CheckpointError(f"{path}: holds no {BEST_DIR}/ checkpoint (written by runs with checkpoints on "
                                  "since evo-marl 0.2; the newest generation is used without --best)")
        return path / BEST_DIR
    if is_checkpoint:
        return path
    latest = latest_complete_generation(path)
    if latest is None:
        found = [p.name for p in generation_dirs(path)]
        raise CheckpointError(f"{path}: no complete generation_<g> checkpoint folder found"
                              + (f" (incomplete: {found})" if found else ""))
    return latest


def run_folder_of(path: str | Path, checkpoint: Path) -> Path:
    """The run folder of ``path``, given the checkpoint folder :func:`resolve_checkpoint` found for it: a checkpoint
    folder given itself (``<run>/generation_<g>``, ``<run>/best``) belongs to its parent."""
    path = Path(path)
    return checkpoint.parent if checkpoint == path else path


def run_records(run_dir: str | Path) -> list[str]:
    """What ``run_dir`` holds of a run's results: generation folders, ``best/`` and metric/report files."""
    run_dir = Path(run_dir)
    held = [p.name + "/" for p in generation_dirs(run_dir)]
    if (run_dir / BEST_DIR).is_dir():
        held.append(BEST_DIR + "/")
    held += [name for name in RESULT_FILES if (run_dir / name).exists()]
    return held


# ---------------------------------------------------------------------------------------------- writing
def describe_kept(run_dir: str | Path) -> str:
    """One phrase saying what a run folder still holds (for error messages after a failed write)."""
    run_dir = Path(run_dir)
    complete = complete_generations(run_dir)
    parts = [f"the newest complete checkpoint is {complete[-1]}" if complete else "no complete checkpoint"]
    if (run_dir / BEST_DIR / MANIFEST_FILE).exists():
        parts.append(f"the best member is in {run_dir / BEST_DIR}")
    if (run_dir / MEMBER_FILE).exists():
        parts.append(f"{MEMBER_FILE} keeps every finished generation")
    return "; ".join(parts)


def storage_error(path: str | Path, err: BaseException, run_dir: str | Path | None = None,
                  action: str = "write") -> StorageError:
    """A :class:`StorageError` for a failed write of ``path``: the cause in words and what ``run_dir`` kept."""
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    free = ""
    try:
        probe = Path(path) if Path(path).exists() else Path(path).parent
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = f" ({shutil.disk_usage(probe).free / 2**20:.1f} MiB free on that disk)"
    except OSError:
        pass
    kept = f"; {describe_kept(run_dir)}" if run_dir is not None else ""
    return StorageError(f"cannot {action} {path}: {reason}{free}{kept}")


def fsync_dir(path: str | Path) -> None:
    """Make a rename inside ``path`` durable (best effort: not every platform can open folders)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


@contextmanager
def atomic_file(path: str | Path, mode: str = "w", run_dir: str | Path | None = None) -> Iterator[IO]:
    """Write ``path`` through a temporary file in the same folder that replaces it only when the block
    succeeds (flushed and fsynced first). On any failure the temporary file is removed; an ``OSError``
    becomes a :class:`StorageError` naming ``path`` (and what ``run_dir`` still holds)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        _remove(tmp)
        if isinstance(err, OSError) and not isinstance(err, StorageError):
            raise storage_error(path, err, run_dir) from err
        raise


def write_text_atomic(path: str | Path, text: str, run_dir: str | Path | None = None) -> None:
    """Replace ``path`` with ``text`` atomically: a reader sees the old or the new file, never a torn one."""
    with atomic_file(path, "w", run_dir) as f:
        f.write(text)


def json_default(value: Any) -> Any:
    """JSON encoding of numpy values, sets and tuples (anything else as its string)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON and fsync it (callers make the folder appear atomically)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, default=json_default)
        f.flush()
        os.fsync(f.fileno())


def write_json_atomic(path: str | Path, data: Any, run_dir: str | Path | None = None) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=1, default=json_default), run_dir)


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the finished folder ``tmp`` to ``final``, replacing an existing ``final`` (which stays whole until
    the new one is in place: it is renamed aside first and removed last)."""
    old = final.with_name(f".{final.name}.old")
    _remove(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    _remove(old)


def clean_temporary(run_dir: str | Path) -> list[str]:
    """Remove what a killed or failed run left behind (``.<name>.tmp`` / ``.<name>.old`` files and folders).

    A ``.generation_<g>.old`` folder is the previous copy of a generation that was being replaced; it is put
    back when the new copy never arrived."""
    run_dir = Path(run_dir)
    removed: list[str] = []
    if not run_dir.is_dir():
        return removed
    for path in sorted(run_dir.iterdir()):
        if not _TEMPORARY_RE.match(path.name):
            continue
        original = run_dir / path.name[1:].rsplit(".", 1)[0]
        if path.name.endswith(".old") and not original.exists():
            os.replace(path, original)
            continue
        _remove(path)
        removed.append(path.name)
    if removed:
        logger.info("removed %s left in %s by an interrupted run", ", ".join(removed), run_dir)
    return removed


def check_run_folder(run_dir: str | Path, resume: bool = False, overwrite: bool = False,
                     checkpoint: bool = True) -> None:
    """Refuse to start a run in ``run_dir`` where it would silently replace another run's results.

    * a folder holding results (:func:`run_records`) needs ``resume`` or ``overwrite``;
    * ``resume`` without checkpoints (``checkpoint=False``) cannot continue a folder holding metrics;
    * ``resume`` and ``overwrite`` exclude each other.

    Raises:
        ConfigError: naming the folder, what it holds and the way out.
    """
    if resume and overwrite:
        raise ConfigError("resume", True, "cannot be combined with overwrite (continue a run, or replace it)")
    held = run_records(run_dir)
    if not held or overwrite:
        return
    if resume:
        if not checkpoint and MEMBER_FILE in held and not complete_generations(run_dir):
            raise ConfigError("resume", True, f"{run_dir} holds {MEMBER_FILE} but no checkpoint, and this run writes "
                              "none (output.checkpoint false): resuming would replace the metrics; use another run "
                              "name, or overwrite to replace it")
        return
    shown = held if len(held) <= 4 else [*held[:2], "...", held[-1]]
    raise ConfigError("run_dir", str(run_dir), f"already holds a run ({', '.join(shown)}): resume it (--resume, "
                      "resume=True), replace it (--overwrite, overwrite_checkpoints=True) or choose another name")


def prepare_run_folder(run_dir: str | Path, resume: bool = False, overwrite: bool = False,
                       checkpoint: bool = True) -> Path:
    """:func:`check_run_folder`, then make ``run_dir`` ready: created, writable (checked with a probe file),
    leftovers of an interrupted run removed and, with ``overwrite``, the old run's results removed.

    Raises:
        ConfigError: see :func:`check_run_folder`. StorageError: the folder cannot be created or written.
    """
    run_dir = Path(run_dir)
    check_run_folder(run_dir, resume, overwrite, checkpoint)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_file(run_dir / ".write_probe") as f:
            f.write("evo-marl")
        os.unlink(run_dir / ".write_probe")
    except StorageError as err:
        raise StorageError(f"run folder {run_dir} is not writable: {err}") from err
    except OSError as err:
        raise storage_error(run_dir, err, action="create the run folder") from err
    clean_temporary(run_dir)
    if overwrite and not resume:
        for name in run_records(run_dir):
            _remove(run_dir / name.rstrip("/"))
    return run_dir
