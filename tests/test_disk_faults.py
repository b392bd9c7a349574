"""A full or read-only disk: one StorageError naming the path, the cause and what the run folder kept; no
temporary file or folder left behind; a resume after the disk is fixed continues from the kept checkpoint.

Tests run as root here, so a chmod-ed folder is still writable: read-only and full file systems are simulated by
raising the OSError the kernel would raise (ENOSPC, EROFS) at the write, and one test makes the kernel itself
refuse a write (RLIMIT_FSIZE in a subprocess). docs/reliability.md records a manual check on a real full tmpfs.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
import torch

from evo_marl import StorageError, train_multi_agent_off_policy
from evo_marl.run_folder import BEST_DIR, generation_dirs, write_text_atomic
from conftest import make_tiny_population
from kill_resume import FAULTY, ROOT, write_config


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _train(run_dir, resume=False, max_steps=60):
    env, pop, memory, hp = make_tiny_population("MATD3", pop_size=2, num_envs=2)
    return train_multi_agent_off_policy(env, "tiny", "MATD3", pop, memory, max_steps=max_steps, evo_steps=20,
                                        run_dir=run_dir, resume=resume, verbose=False, seed=0)


def _fail_from_call(monkeypatch, owner, name: str, nth: int, code: int) -> None:
    """``owner.name`` raises OSError(code) from its ``nth`` call on."""
    original, calls = getattr(owner, name), [0]

    def failing(*args, **kwargs):
        calls[0] += 1
        if calls[0] >= nth:
            raise _oserror(code)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)


def _leftovers(run_dir) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name.startswith("."))


def test_disk_full_while_checkpointing_keeps_the_previous_generation(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    # generation 1: best/ (1 file) + generation_00001 (2 members + buffer); the disk fills during generation 2
    _fail_from_call(monkeypatch, torch, "save", 6, errno.ENOSPC)
    with pytest.raises(StorageError) as err:
        _train(run_dir)
    message = str(err.value)
    assert "cannot write the checkpoint" in message and "No space left on device" in message
    assert f"the newest complete checkpoint is {run_dir / 'generation_00001'}" in message
    assert "metrics.csv keeps every finished generation" in message
    assert _leftovers(run_dir) == [], "no temporary folder may be left behind"
    assert [p.name for p in generation_dirs(run_dir)] == ["generation_00001"]
    monkeypatch.undo()  # space freed: the resume continues from generation 1 and finishes
    _, history = _train(run_dir, resume=True)
    assert len(history) == 3 and len(generation_dirs(run_dir)) == 3


def test_read_only_file_system_while_writing_best(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _fail_from_call(monkeypatch, torch, "save", 1, errno.EROFS)
    with pytest.raises(StorageError, match=rf"cannot write the checkpoint {run_dir / BEST_DIR}: Read-only file "
                                           r"system .*; no complete checkpoint; metrics.csv keeps"):
        _train(run_dir)
    assert _leftovers(run_dir) == []


def test_disk_full_while_appending_metrics(tmp_path, monkeypatch):
    from evo_marl.tracking.writers import CSVWriter

    run_dir = tmp_path / "run"
    _fail_from_call(monkeypatch, CSVWriter, "_append", 2, errno.ENOSPC)
    with pytest.raises(StorageError, match=r"cannot append generation 2 to .*metrics.csv: No space left on device"):
        _train(run_dir)
    assert [p.name for p in generation_dirs(run_dir)] == ["generation_00001"], "generation 2 is never checkpointed"


def test_unwritable_root_is_refused_before_training(tmp_path, monkeypatch):
    from pathlib import Path

    _fail_from_call(monkeypatch, Path, "mkdir", 1, errno.EACCES)
    with pytest.raises(StorageError, match=r"cannot create the run folder .*/root/run: Permission denied"):
        _train(tmp_path / "root" / "run")
    assert not (tmp_path / "root").exists()


def test_read_only_run_folder_is_refused_before_training(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    _fail_from_call(monkeypatch, os, "fsync", 1, errno.EROFS)
    with pytest.raises(StorageError, match=r"run folder .*run is not writable: cannot write .*\.write_probe: "
                                           r"Read-only file system"):
        _train(tmp_path / "run")
    assert os.listdir(tmp_path / "run") == []


def test_atomic_file_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text("old: 1\n")
    _fail_from_call(monkeypatch, os, "fsync", 1, errno.ENOSPC)
    with pytest.raises(StorageError, match=r"cannot write .*config.yaml: No space left on device"):
        write_text_atomic(path, "new: 2\n" * 1000)
    assert path.read_text() == "old: 1\n" and os.listdir(tmp_path) == ["config.yaml"]


def test_kernel_refuses_a_write_cli_prints_one_line(tmp_path):
    """A real write failure (the process may write no file larger than 4 KiB; member files are larger)."""
    config = write_config(tmp_path)
    proc = subprocess.run([sys.executable, str(FAULTY), "fsize=4096", "--", "train", str(config), "--quiet",
                           "--run-dir", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("evo-marl: error:")]
    assert len(errors) == 1 and "File too large" in errors[0] and "Traceback" not in proc.stderr
    assert f"cannot write the checkpoint {tmp_path / 'run' / BEST_DIR}" in errors[0]
    assert _leftovers(tmp_path / "run") == []
