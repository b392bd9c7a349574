"""ATC's stopping criterion: clean evaluations in a row, optionally near the scenario's optimum."""

from __future__ import annotations

from pathlib import Path

import pytest

from evo_marl import ConfigError
from evo_marl.config import load_config
from evo_marl.envs.atc.stopping import ConflictFreeStreak
from evo_marl.experiment import stopping_criteria
from evo_marl.tracking.records import GenerationRecord, MemberRecord


def record(fitness: float, los: float = 0.0, waypoints: float = 1.0) -> GenerationRecord:
    member = MemberRecord(0, None, "None", fitness, 0, {}, {}, "ReLU", 0,
                          eval_metrics={"los_events": los, "waypoint_fraction": waypoints})
    return GenerationRecord(1, 0, [member])


def test_streak_counts_clean_evaluations_in_a_row():
    criterion = ConflictFreeStreak(2)
    assert [criterion.update(r) for r in (record(5.0), record(5.0, los=1.0), record(5.0), record(5.0))] == \
        [False, False, False, True]
    assert [ConflictFreeStreak(1).update(record(5.0, waypoints=0.75))] == [False]


def test_min_return_fraction_waits_for_a_solved_scenario():
    criterion = ConflictFreeStreak(2, min_return_fraction=0.9, env_id="atc/converging")  # optimum 44: 39.6
    assert criterion.min_return == pytest.approx(39.6)
    assert [criterion.update(record(f)) for f in (39.2, 39.2, 40.0, 40.1)] == [False, False, False, True]


def test_min_return_fraction_needs_a_known_optimum_and_is_named_in_configs():
    with pytest.raises(ConfigError, match="known optimum"):
        ConflictFreeStreak(3, min_return_fraction=0.9, env_id="atc/random")
    config = load_config({"env": {"id": "atc/head_on"}, "training": {"stopping": {"criteria": {
        "conflict_free_streak": {"k": 3, "min_return_fraction": 1.5}}}}})
    with pytest.raises(ConfigError, match="conflict_free_streak.min_return_fraction") as err:
        stopping_criteria(config)
    assert "1.5" in str(err.value)
    (criterion,) = stopping_criteria(load_config(Path(__file__).parents[2] / "configs" / "atc_ippo.yaml", ["env.id=atc/t_formation"]))
    assert criterion.min_return == pytest.approx(0.9 * 34.0)
