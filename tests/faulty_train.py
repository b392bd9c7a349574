"""Run the ``evo-marl`` CLI with a fault injected at a chosen call (used by tests/test_kill_resume.py,
tests/test_disk_faults.py and benchmarks/bench_kill_resume.py)::

    python tests/faulty_train.py FAULT [FAULT ...] -- train config.yaml --quiet

Each FAULT is ``ACTION@TARGET#N``: on the N-th call of TARGET (counting from 1) do ACTION.

* TARGET: ``module:attribute.path``, e.g. ``torch:save``, ``os:replace``,
  ``evo_marl.training.off_policy:OffPolicyPhase._learn``.
* ACTION: ``kill`` (SIGKILL this process before the call), ``kill-after`` (after it returns), ``enospc`` /
  ``erofs`` (raise ``OSError`` "No space left on device" / "Read-only file system" on this and every later
  call), or ``fsize=BYTES`` (no TARGET: limit the size of every file this process writes, a real kernel
  write failure; Python ignores SIGXFSZ, so writes past the limit raise ``OSError(EFBIG)``).

Library code has no fault hooks: the faults are monkeypatched here, around the real functions.
"""

from __future__ import annotations

import errno
import functools
import importlib
import os
import resource
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's evo_marl


def _resolve(target: str):
    module_name, _, attr_path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = attr_path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner, name


def install(fault: str) -> None:
    """Install one ``ACTION@TARGET#N`` fault (see the module docstring)."""
    if fault.startswith("fsize="):
        limit = int(fault.split("=", 1)[1])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        return
    action, _, rest = fault.partition("@")
    target, _, nth = rest.partition("#")
    owner, name = _resolve(target)
    original, at = getattr(owner, name), int(nth or 1)
    calls = [0]

    @functools.wraps(original)
    def faulty(*args, **kwargs):
        calls[0] += 1
        if calls[0] == at and action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if calls[0] >= at and action in ("enospc", "erofs"):
            code = errno.ENOSPC if action == "enospc" else errno.EROFS
            raise OSError(code, os.strerror(code))
        result = original(*args, **kwargs)
        if calls[0] == at and action == "kill-after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, faulty)  # on a class, the wrapper is a plain function: it receives self as the original


def main(argv: list[str]) -> int:
    if "--" not in argv:
        raise SystemExit(__doc__)
    split = argv.index("--")
    for fault in argv[:split]:
        install(fault)
    from evo_marl.cli import main as cli_main

    return cli_main(argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
