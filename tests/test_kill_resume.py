"""kill -9 at any moment, then ``--resume``: the run ends exactly as an uninterrupted one (fitness history,
every metrics row, final weights, best/), and no generation folder is ever left unloadable.

Each case kills a real ``evo-marl train`` subprocess (tests/faulty_train.py injects the SIGKILL at a chosen
call: inside learning, inside a checkpoint's member file, between the renames of a folder replacement,
inside the metrics truncation of a resume). benchmarks/bench_kill_resume.py runs 20 random cycles.
"""

from __future__ import annotations

import pytest

from evo_marl.cli import main
from kill_resume import differences, outcome, resume_until_done, run, unloadable_generations, write_config


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill_reference")
    config = write_config(folder)
    assert main(["train", str(config), "--quiet", "--run-dir", str(folder / "ref")]) == 0
    return config, outcome(folder / "ref")


def _kill_then_resume(reference, tmp_path, *faults, resume_faults=()):
    config, expected = reference
    run_dir = tmp_path / "killed"
    assert run(config, run_dir, *faults) == -9, "the fault must kill the run"
    assert unloadable_generations(run_dir) == []
    if resume_faults:
        assert run(config, run_dir, *resume_faults, resume=True) == -9
        assert unloadable_generations(run_dir) == []
    resume_until_done(config, run_dir)
    assert differences(outcome(run_dir), expected) == []


LEARN = "evo_marl.population.phases:BatchedOffPolicyPhase._learn_all"  # once per vector step: 20 a generation


@pytest.mark.parametrize("faults", [
    [f"kill@{LEARN}#50"],   # mid-generation 3, while learning
    ["kill@torch:save#7"],   # writing a member file of generation 2's checkpoint
], ids=["mid-generation", "checkpoint-member-file"])
def test_kill_then_resume_equals_uninterrupted_run(reference, tmp_path, faults):
    _kill_then_resume(reference, tmp_path, *faults)


@pytest.mark.slow
def test_kill_before_the_first_checkpoint(reference, tmp_path):
    """Nothing but config.yaml exists yet: --resume starts the run afresh, exactly as the first try would."""
    _kill_then_resume(reference, tmp_path, f"kill@{LEARN}#9")


def test_kill_inside_the_metrics_truncation_of_a_resume(reference, tmp_path):
    # the first run dies in generation 4 (its rows of generation 4 are written, its checkpoint is not); the
    # resume dies while it rewrites metrics.csv without them (os.replace #2: after the run folder's write probe)
    _kill_then_resume(reference, tmp_path, "kill@torch:save#20", resume_faults=["kill@os:replace#2"])


@pytest.mark.slow
@pytest.mark.parametrize("nth", range(1, 11))
def test_kill_after_every_rename(reference, tmp_path, nth):
    """After each of the run's 10 ``os.replace``: the write probe, config.yaml, best/ (new; then aside and in
    place when generation 2 improves on it), and the five generation folders."""
    _kill_then_resume(reference, tmp_path, f"kill-after@os:replace#{nth}")


@pytest.mark.slow
@pytest.mark.parametrize("nth", [1, 2, 4, 5, 9, 13, 18, 22])  # of 22: best/ (1, 6), members, buffers (5, ...)
def test_kill_before_every_kind_of_checkpoint_file(reference, tmp_path, nth):
    _kill_then_resume(reference, tmp_path, f"kill@torch:save#{nth}")
