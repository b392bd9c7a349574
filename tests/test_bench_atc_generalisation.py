"""The ATC generalisation benchmark's report: issue 11's targets counted per seed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evo_marl.envs.atc.scenarios import shipped_scenarios

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_atc_generalisation import SeedResult, held_out_target_met, named_target_met, report  # noqa: E402


def _result(seed: int, los_4: float, waypoints_4: float, unclean: tuple[str, ...]) -> SeedResult:
    named = {s: {"return": 1.0, "optimum": 2.0, "bound": None, "min_sep": 6.0, "waypoints": 1.0, "los": False,
                 "clean": s not in unclean} for s in shipped_scenarios()}
    held_out = {n: {"los_risk": los, "los_per_h": 0.1, "waypoints": wp, "clean": 0.9, "return": 1.0, "bound": 2.0,
                    "los_depth": 4.5} for n, los, wp in ((2, 0.0, 0.99), (4, los_4, waypoints_4))}
    return SeedResult("atc_generalist_ippo", seed, Path("run"), 1000, 1.0, "0", named=named, random=held_out)


def test_targets_are_counted_per_seed():
    both = _result(0, 0.05, 0.95, ("merge_4all", "parallel"))                 # at the bounds: met
    risky = _result(1, 0.051, 0.99, ())                                       # LoS risk over 5 %
    short = _result(2, 0.01, 0.949, ())                                       # waypoints under 95 %
    no_converging = _result(3, 0.01, 0.99, ("converging",))                   # 13 clean, converging not
    three_unclean = _result(4, 0.01, 0.99, ("merge_4all", "parallel", "head_on"))
    results = [both, risky, short, no_converging, three_unclean]
    assert [held_out_target_met(r) for r in results] == [True, False, False, True, True]
    assert [named_target_met(r) for r in results] == [True, True, True, False, False]
    args = argparse.Namespace(choose_by="fitness", aircraft=[2, 4], episodes=1000)
    lines = report(results, args, "python benchmarks/bench_atc_generalisation.py")
    summary = next(line for line in lines if line.startswith("| atc_generalist_ippo |"))
    header = lines[lines.index(summary) - 2]
    assert header.count("|") == summary.count("|")                          # one cell per column
    assert summary.endswith("| - | 3 / 3 / 1 of 5 |")                      # detection not measured: "-"
    assert "seed 0: held-out yes, named yes; seed 1: held-out no, named yes" in "\n".join(lines)


def test_a_seed_without_small_traffic_is_not_counted_as_meeting_the_held_out_target():
    result = _result(0, 0.0, 1.0, ())
    result.random = {6: result.random[4]}
    assert held_out_target_met(result) is None


def test_an_evaluation_is_kept_in_the_run_folder_and_reused(tmp_path, monkeypatch):
    import bench_atc_generalisation as bench

    checkpoint = tmp_path / "generation_00002"
    checkpoint.mkdir()
    (checkpoint / "manifest.json").write_text('{"generation": 2}')
    monkeypatch.setattr(bench, "resolve_checkpoint", lambda run_dir: checkpoint)
    calls = []
    monkeypatch.setattr(bench, "evaluate", lambda name, seed, run_dir, wall, args: calls.append(args) or
                        _result(seed, 0.03, 0.97, ("parallel",)))
    args = argparse.Namespace(choose_by="ensemble", choose_episodes=900, choose_aircraft=[3, 5],
                              choose_generations=1, episodes=1000, aircraft=[2, 4], detection_episodes=0,
                              no_cache=False)
    first = bench.cached_evaluation("atc_generalist_ippo", 3, tmp_path, 12.0, args)
    again = bench.cached_evaluation("atc_generalist_ippo", 3, tmp_path, 12.0, args)
    assert len(calls) == 1 and first.code
    assert (again.named, again.random, again.code) == (first.named, first.random, first.code)   # count keys ints again
    fewer = argparse.Namespace(**{**vars(args), "episodes": 500})
    bench.cached_evaluation("atc_generalist_ippo", 3, tmp_path, 12.0, fewer)
    assert len(calls) == 2                                                           # other settings: evaluated
    (checkpoint / "manifest.json").write_text('{"generation": 3}')
    bench.cached_evaluation("atc_generalist_ippo", 3, tmp_path, 12.0, args)
    assert len(calls) == 3                                                           # another checkpoint: evaluated
    forced = argparse.Namespace(**{**vars(args), "no_cache": True})
    bench.cached_evaluation("atc_generalist_ippo", 3, tmp_path, 12.0, forced)
    assert len(calls) == 4
    assert len(json.loads((tmp_path / bench.EVALUATION_CACHE).read_text())) == 3   # one entry per key
