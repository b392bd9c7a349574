"""Cross-scenario evaluation of a run, ATC evaluation numbers and the shift-test report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evo_marl.config import load_config
from evo_marl.cross_evaluation import choose_member, cross_evaluate, format_table, load_run, resolve_env_ids
from evo_marl.envs.atc.evaluation import straight_flight_bound, transfer_kwargs
from evo_marl.envs.atc.metrics import evaluation_summary
from evo_marl.envs.atc.scenarios import shipped_scenarios
from evo_marl.errors import ConfigError
from evo_marl.experiment import run_experiment
from evo_marl.run_folder import read_manifest

OBS = {"neighbor_topk": 4, "neighbor_order": "threat", "neighbor_cpa": True}


def tiny_run(root, name: str = "generalist", seed: int = 0, max_steps: int = 128):
    """A tiny IPPO run on random traffic of 2-3 aircraft with a non-default observation; its run folder."""
    config = load_config({
        "name": name, "algo": "IPPO", "population_size": 2, "seed": seed,
        "env": {"id": "atc/random", "num_envs": 4, "kwargs": {"num_aircraft": [2, 3], **OBS}},
        "net_config": {"hidden_size": [16]}, "init_hp": {"LEARN_STEP": 64, "BATCH_SIZE": 32, "SHARE_PARAMS": True},
        "training": {"max_steps": max_steps, "evo_steps": 64, "eval_loop": 2},
        "output": {"root": str(root), "plots": False}})
    run_experiment(config, verbose=False)
    return config.run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("runs"))


def test_resolve_env_ids_expands_globs_in_order():
    ids = resolve_env_ids(["atc/head_on", "atc/merge_*", "atc/head_on"])
    assert ids == ["atc/head_on", "atc/merge_2x2", "atc/merge_3p1", "atc/merge_4all"]
    assert {f"atc/{s}" for s in shipped_scenarios()} <= set(resolve_env_ids("atc/*"))
    with pytest.raises(ConfigError, match="matches no registered env id"):
        resolve_env_ids(["atc/nothing_*"])


def test_transfer_keeps_observation_options_only():
    kwargs = {"num_aircraft": [2, 8], "traffic": [], "schedule": [], "max_episode_steps": 80, **OBS,
              "los_entry_penalty": -30.0, "substeps": 5}
    assert transfer_kwargs(kwargs) == OBS  # other scenarios are scored by their standard rules


def test_cross_evaluate_a_run_on_other_scenarios(run_dir):
    results = cross_evaluate(run_dir, ["atc/head_on", "atc/converging", "atc/random"], episodes=6, seed=3,
                             env_kwargs=None, all_members=True)
    assert [r.env_id for r in results] == [e for e in ("atc/head_on", "atc/converging", "atc/random") for _ in "ab"]
    members = [r.member for r in results]
    assert members[:2] == members[2:4] == members[4:] and len(set(members[:2])) == 2
    for r in results:
        assert r.episodes == 6 and r.returns.shape == (6,) and np.isfinite(r.mean_return)
        assert {"los_risk", "los_per_flight_hour", "waypoint_fraction", "clean", "flight_hours"} <= set(r.metrics)
        assert 0.0 <= r.metrics["los_risk"] <= 1.0
    head_on = results[0]
    assert head_on.optimum == 24.0 and head_on.bound == pytest.approx(24.7, abs=0.1)
    assert head_on.std_return == pytest.approx(0.0, abs=1e-6)  # a fixed scenario, no exploration
    assert results[4].optimum is None and results[4].bound is not None  # random traffic: bound only
    table = format_table(results)
    assert table.count("\n") == 7 and f"| atc/converging | {members[1]} | 6 |" in table
    assert table.splitlines()[0].startswith("| env | member | episodes | return | optimum / bound | los_risk |")
    short = format_table(results[:1], columns=["los_risk", "waypoint_fraction"])
    assert short.splitlines()[2].endswith(f"| 24.0 / 24.7 | {results[0].metrics['los_risk']:.4g} | "
                                          f"{results[0].metrics['waypoint_fraction']:.4g} |")


def test_cross_evaluation_is_reproducible(run_dir):
    a = cross_evaluate(run_dir, ["atc/random"], episodes=5, seed=7, references=False)[0]
    b = cross_evaluate(run_dir, ["atc/random"], episodes=5, seed=7, references=False)[0]
    np.testing.assert_array_equal(a.returns, b.returns)


def test_summarise_counts_los_per_flight_hour():
    hours = np.array([2 * 36, 4 * 36, 2 * 72, 2 * 10]) * 10 / 3600
    metrics = {"min_separation_nm": np.array([3.0, 8.0, 6.0, np.nan]), "los_events": np.array([2.0, 0, 0, 0]),
               "waypoint_fraction": np.array([1.0, 1.0, 0.5, 0]), "flight_hours": hours}
    s = evaluation_summary(metrics)
    assert s["los_risk"] == pytest.approx(1 / 3) and s["clean"] == pytest.approx(1 / 3)
    assert s["los_per_flight_hour"] == pytest.approx(2 / hours[:3].sum())  # the unfinished episode does not count
    assert s["worst_min_separation_nm"] == 3.0
    assert s["los_median_separation_nm"] == 3.0  # the one episode that lost separation
    deeper = evaluation_summary({"min_separation_nm": np.array([4.9, 1.0, 2.0, 7.0])})
    assert deeper["los_median_separation_nm"] == 2.0
    assert np.isnan(evaluation_summary({"min_separation_nm": np.array([5.0, 8.0])})["los_median_separation_nm"])


def test_straight_flight_bound_removes_the_los_terms():
    # head_on straight flight: -33.55 with two LoS entries (-25 each), depth -3.915 and team -0.198 per agent
    assert straight_flight_bound("head_on", 2, 0)[0] == pytest.approx(-33.55 + 2 * (25 + 3.915 + 0.198), abs=0.05)
    assert straight_flight_bound("parallel", 1, 0)[0] == pytest.approx(32.28, abs=0.3)  # no LoS: only the team term


def test_analyse_run_writes_a_table_and_a_plot(run_dir):
    from evo_marl.envs.atc.shift_report import analyse_run

    text, paths = analyse_run(run_dir, scenarios=["head_on"])
    md, png = paths
    assert md.read_text() == text and png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5000
    assert "| head_on | 19 |" in text  # the baseline and 18 shifted variants
    assert text.count("| head_on |") == 1 + 19


def test_cli_evaluate_on_other_envs_and_analyse(run_dir, capsys):
    from evo_marl.cli import main

    assert main(["evaluate", str(run_dir), "--env", "atc/head_on", "--env", "atc/merge_*", "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "| atc/merge_4all |" in out and (run_dir / "cross_evaluation.md").exists()
    rows = json.loads((run_dir / "cross_evaluation.json").read_text())
    assert [r["env"] for r in rows] == ["atc/head_on", "atc/merge_2x2", "atc/merge_3p1", "atc/merge_4all"]
    assert rows[0]["optimum"] == 24.0 and "los_risk" in rows[0]
    assert main(["analyse", str(run_dir), "--shifts", "--scenarios", "head_on"]) == 0
    assert "| head_on | 19 |" in capsys.readouterr().out
    assert main(["analyse", str(run_dir)]) == 2
    assert "choose an analysis" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--env", "atc/nowhere_*"]) == 2
    assert "matches no registered env id" in capsys.readouterr().err


def test_best_evaluates_the_runs_best_checkpoint_on_other_envs(tmp_path, capsys):
    """``--best`` with ``--env`` (before: silently the newest generation's best) and ``cross_evaluate(best=True)``,
    on a run whose best member ever (generation 1) is no longer in its population."""
    from evo_marl.cli import main

    run = tiny_run(tmp_path, "run", seed=5, max_steps=256)
    best = read_manifest(run / "best")["best"]["index"]
    assert best not in [m.index for m in load_run(run)[0]]
    [r] = cross_evaluate(run, ["atc/head_on"], episodes=1, best=True)
    assert r.member == best
    assert main(["evaluate", str(run), "--best", "--env", "atc/head_on", "--episodes", "1"]) == 0
    assert f"| atc/head_on | {best} | 1 |" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="needs a run folder"):
        cross_evaluate(load_run(run)[0], ["atc/head_on"], best=True)


def test_a_run_folder_named_best_is_a_run_folder(tmp_path):
    """Before, ``best`` as a run's name made its run folder look like a ``best/`` checkpoint."""
    from evo_marl.evaluate_run import evaluate_run

    run = tiny_run(tmp_path, "best")
    assert evaluate_run(run, episodes=2)[1]["generation"] == "generation_00002"
    assert evaluate_run(run, episodes=2, best=True)[1]["generation"] == "best"
    assert cross_evaluate(run, ["atc/head_on"], episodes=1, best=True)[0].member == \
        read_manifest(run / "best")["best"]["index"]


def test_one_generation_folder_of_a_run_can_be_evaluated(tmp_path, capsys):
    """A run folder's older generation (before: ``config.yaml: missing``): its own members, its run's env."""
    from evo_marl.cli import main
    from evo_marl.evaluate_run import evaluate_run
    from evo_marl.hpo.fitness import best_member
    from evo_marl.training.checkpoint import load_population

    run = tiny_run(tmp_path, "run", seed=5, max_steps=256)
    first = run / "generation_00002"  # of 4; the newest 3 are kept
    expected = best_member(load_population(first)).index
    _, results = evaluate_run(first, episodes=2)
    assert (results["generation"], results["members"][0]["index"]) == ("generation_00002", expected)
    assert (first / "evaluation.json").exists()  # written where it was asked for, not over the run's own
    assert not (run / "evaluation.json").exists()
    [r] = cross_evaluate(first, ["atc/head_on"], episodes=1)
    assert r.member == expected
    assert main(["evaluate", str(first), "--env", "atc/head_on", "--episodes", "1"]) == 0
    assert f"| atc/head_on | {expected} | 1 |" in capsys.readouterr().out


def test_cli_analyse_names_what_a_family_offers(tmp_path, capsys):
    from evo_marl.cli import main

    config = load_config({"name": "tiny", "algo": "IPPO", "population_size": 2,
                          "env": {"id": "tiny/coop_box", "num_envs": 2}, "net_config": {"hidden_size": [8]},
                          "init_hp": {"LEARN_STEP": 16, "BATCH_SIZE": 8},
                          "training": {"max_steps": 32, "evo_steps": 16, "eval_loop": 2},
                          "output": {"root": str(tmp_path), "plots": False}})
    run_experiment(config, verbose=False)
    assert main(["analyse", str(config.run_dir), "--shifts"]) == 2
    assert "the 'tiny' env family has no such analysis" in capsys.readouterr().err


def test_choose_member_picks_the_best_score_on_validation_episodes(run_dir):
    episodes, seed = 8, 99
    each = cross_evaluate(run_dir, ["atc/random"], episodes=episodes, seed=seed, all_members=True, references=False)
    returns = {r.member: r.mean_return for r in each}
    waypoints = {r.member: r.metrics["waypoint_fraction"] for r in each}
    member, scores = choose_member(run_dir, ["atc/random"], episodes=episodes, seed=seed)
    assert scores == pytest.approx(returns) and member.index == max(returns, key=returns.get)
    member, scores = choose_member(run_dir, "atc/random", "waypoint_fraction", lower_is_better=True,
                                   episodes=episodes, seed=seed)
    assert scores == pytest.approx(waypoints)
    assert member.index == min(waypoints, key=lambda k: (waypoints[k], -returns[k]))
    with pytest.raises(ConfigError, match="metric"):
        choose_member(run_dir, ["atc/random"], "safety", episodes=2, seed=seed)


def test_choose_member_can_pick_from_earlier_generations(run_dir):
    from evo_marl.run_folder import complete_generations, read_manifest
    from evo_marl.training.checkpoint import load_population

    folders = complete_generations(run_dir)
    assert len(folders) >= 2
    episodes, seed = 8, 99
    expected = {}
    for folder in folders[-2:]:
        generation = read_manifest(folder)["generation"]
        for r in cross_evaluate(load_population(folder), ["atc/random"], episodes=episodes, seed=seed,
                                all_members=True, references=False, env_kwargs={"num_aircraft": [2, 3], **OBS}):
            expected[(generation, r.member)] = r.metrics["waypoint_fraction"]
    member, scores = choose_member(run_dir, ["atc/random"], "waypoint_fraction", episodes=episodes, seed=seed,
                                   generations=2)
    assert scores == pytest.approx(expected) and len({g for g, _ in scores}) == 2
    best = max(scores.values())
    assert scores[next(k for k in scores if k[1] == member.index and scores[k] == best)] == best
    _, newest = choose_member(run_dir, ["atc/random"], "waypoint_fraction", episodes=episodes, seed=seed)
    last = max(g for g, _ in scores)
    assert newest == pytest.approx({i: v for (g, i), v in scores.items() if g == last})
    with pytest.raises(ConfigError, match="generations"):
        choose_member(run_dir, ["atc/random"], episodes=2, seed=seed, generations=0)
    with pytest.raises(ConfigError, match="needs a run folder"):
        choose_member(load_population(folders[-1]), ["atc/random"], episodes=2, seed=seed, generations=2)


def test_trained_env_state_reads_the_local_or_the_ray_checkpoint():
    from evo_marl.run_folder import trained_env_state

    local = {"components": {"env": {"envs": [{"step_count": 96}, {}]}}}
    ray = {"components": {"ray": {"env_states": [None, [{"step_count": 48}, {}]]}}}
    assert trained_env_state(local) == {"step_count": 96}
    assert trained_env_state(ray) == {"step_count": 48}  # the first worker that reported one
    assert trained_env_state({}) == {} and trained_env_state({"components": {"env": {"envs": []}}}) == {}
