"""Connecting to Ray: the optional import and a local start that survives a slow machine."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

from evo_marl.distributed.backend import WorkerError
from evo_marl.errors import ConfigError

logger = logging.getLogger(__name__)


def import_ray():
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ConfigError("backend", "ray", "needs Ray: pip install 'evo-marl[ray]'") from err
    return ray


def init_ray(address: str | None = None, attempts: int = 3, **kwargs: Any) -> None:
    """Connect to ``address`` (None: start a new local instance, without dashboard unless ``kwargs`` ask for
    one; Ray's ``RAY_ADDRESS`` environment variable, when set, names the cluster instead).

    A local start is tried up to ``attempts`` times: on a loaded machine the raylet can give up waiting for
    its dashboard agent (a fixed 15 s, ray-project/ray#65983) and the start fails although a retry works.
    """
    ray = import_ray()
    if address is not None:
        ray.init(address=address, **kwargs)
        return
    kwargs = {"address": "local", "include_dashboard": False} | kwargs
    for attempt in range(1, attempts + 1):
        before = _descendants(os.getpid())
        try:
            ray.init(**kwargs)
            return
        except Exception as err:  # Ray raises a bare Exception when its node does not come up in time
            ray.shutdown()
            for pid in _descendants(os.getpid()) - before:  # the failed node's processes (GCS, dashboard)
                with contextlib.suppress(OSError):
                    if b"ray" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        os.kill(pid, signal.SIGKILL)
            if attempt == attempts:
                raise WorkerError(f"a local Ray instance did not start in {attempts} attempts ({err}); see "
                                  "/tmp/ray/session_latest/logs/raylet.out") from err
            logger.warning("a local Ray instance did not start (%s); trying again (%d of %d)", err, attempt + 1,
                           attempts)


def _descendants(root: int) -> set[int]:
    """Process ids below ``root`` (Linux ``/proc``; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
