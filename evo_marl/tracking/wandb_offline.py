"""Read what an offline W&B run wrote, without network or account.

An offline run lives in ``<dir>/wandb/offline-run-<time>-<id>/``; its metrics are only in the binary
``run-<id>.wandb`` file (a LevelDB-style log of W&B protobuf ``Record`` messages: a 7-byte ``:W&B`` header,
then 32 KiB blocks of chunks with a 7-byte header ``crc32c(4) length(2) type(1)``). This module reads the
history rows, the summary, the config and the metric definitions back, so tests and reports can check an
offline run before (or instead of) ``wandb sync``.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evo_marl.errors import ConfigError

_HEADER = b":W&B"
_HEADER_LEN = 7
_BLOCK = 32 * 1024
_CHUNK_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """The content of one offline W&B run folder."""

    path: Path
    run_id: str = ""
    project: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # define_metric name/glob -> options

    def column(self, key: str) -> list[Any]:
        """Values of one history key, in logging order (rows without it are skipped)."""
        return [row[key] for row in self.history if key in row]


def iter_record_bytes(path: str | Path) -> Iterator[bytes]:
    """Serialized protobuf records of a ``.wandb`` file, reassembled across blocks."""
    data = Path(path).read_bytes()
    if data[:len(_HEADER)] != _HEADER:
        raise ConfigError("path", str(path), "is not a W&B transaction log (.wandb file with a ':W&B' header)")
    pos, pending = _HEADER_LEN, b""
    while pos + _CHUNK_HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _CHUNK_HEADER:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + _CHUNK_HEADER])
        if kind == 0:  # zero padding up to the end of the block
            pos += left
            continue
        end = pos + _CHUNK_HEADER + length
        if end > len(data) or kind not in (_FULL, _FIRST, _MIDDLE, _LAST):
            break  # a torn write at the end of a run that is still open or crashed
        chunk, pos = data[pos + _CHUNK_HEADER:end], end
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        else:
            yield pending + chunk
            pending = b""


def _key(item: Any) -> list[str]:
    return list(item.nested_key) if len(item.nested_key) else [item.key]


def _assign(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def _value(item: Any) -> Any:
    try:
        return json.loads(item.value_json)
    except (json.JSONDecodeError, ValueError):
        return item.value_json


def read_offline_run(path: str | Path) -> OfflineRun:
    """Parse an offline run folder (``.../offline-run-*``) or its ``run-<id>.wandb`` file.

    Raises:
        ConfigError: ``path`` holds no ``.wandb`` file or is not a W&B log.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*.wandb"))
    if not files:
        raise ConfigError("path", str(path), "holds no .wandb file (expected a wandb/offline-run-* folder)")
    run = OfflineRun(path=path if path.is_dir() else path.parent)
    for raw in iter_record_bytes(files[0]):
        record = pb.Record.FromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.project = record.run.run_id, record.run.project
            for item in record.run.config.update:
                _assign(run.config, _key(item), _value(item))
        elif kind == "config":
            for item in record.config.update:
                _assign(run.config, _key(item), _value(item))
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _assign(row, _key(item), _value(item))
            run.history.append(row)
        elif kind == "summary":
            for item in record.summary.update:
                _assign(run.summary, _key(item), _value(item))
        elif kind == "metric":
            m = record.metric
            options = {"step_metric": m.step_metric, "summary": [f.name for f, v in m.summary.ListFields() if v]}
            run.metrics[m.name or m.glob_name] = options
    return run


def find_offline_runs(directory: str | Path) -> list[Path]:
    """Offline run folders under ``directory`` (searched recursively), oldest first."""
    return sorted(Path(directory).rglob("offline-run-*"), key=lambda p: p.name)


def is_complete(path: str | Path) -> bool:
    """Whether a ``.wandb`` file (or an offline run folder) already holds the run's ``exit`` record."""
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*.wandb"))
    if not files or files[0].stat().st_size <= _HEADER_LEN:
        return False
    try:
        return any(pb.Record.FromString(raw).WhichOneof("record_type") == "exit"
                   for raw in iter_record_bytes(files[0]))
    except Exception:  # a record still being written
        return False


def wait_until_complete(path: str | Path, timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Wait until W&B has flushed an offline run to disk (``run.finish()`` can return before it has).

    Returns:
        True when the ``exit`` record is on disk, False when ``timeout`` seconds passed first.
    """
    deadline = time.monotonic() + timeout
    while not is_complete(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True
