"""``training.fitness_metric``: members ranked by an episode metric of the env instead of their return."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evo_marl.config import load_config
from evo_marl.envs.registry import make_vec_env
from evo_marl.errors import ConfigError
from evo_marl.evaluate_run import evaluate_run
from evo_marl.experiment import build_population, run_experiment
from evo_marl.hpo.fitness import describe_fitness, evaluation_score
from evo_marl.tracking.report import build_report
from evo_marl.tracking.writers import RecordList
from evo_marl.tracking.run_data import load_run
from evo_marl.training.settings import RunSettings


def _config(root, metric: str, env_id: str = "atc/random", **env_kwargs):
    return load_config({
        "algo": "IPPO", "population_size": 3, "seed": 1,
        "env": {"id": env_id, "num_envs": 4, "kwargs": env_kwargs},
        "net_config": {"hidden_size": [16]}, "init_hp": {"LEARN_STEP": 64, "BATCH_SIZE": 32, "SHARE_PARAMS": True},
        "training": {"max_steps": 192, "evo_steps": 64, "eval_loop": 8, "fitness_metric": metric},
        "output": {"root": str(root), "plots": False}})


@pytest.mark.parametrize("bad", ["", "-", "--clean", " clean", 3, None])
def test_a_bad_fitness_metric_is_named(bad):
    with pytest.raises(ConfigError, match="training.fitness_metric"):
        load_config({"algo": "IPPO", "env": {"id": "tiny/coop_box"}, "training": {"fitness_metric": bad}})
    with pytest.raises(ConfigError, match="fitness_metric"):
        RunSettings(env_name="x", fitness_metric=bad)


def test_fitness_is_described_in_words():
    assert describe_fitness() == "mean evaluation team return"
    assert describe_fitness("-episode_length", 3) == ("minus the mean evaluation episode_length, averaged over the "
                                                      "last 3 evaluations")


def test_evaluation_score_reads_the_return_or_a_metric_over_finished_episodes():
    returns = np.array([1.0, 2.0, 6.0])
    metrics = {"clean": np.array([1.0, 0.0, np.nan]), "length": np.array([np.nan] * 3)}
    assert evaluation_score(returns, metrics) == 3.0
    assert evaluation_score(returns, metrics, "clean") == 0.5       # the unfinished episode does not count
    assert evaluation_score(returns, metrics, "-clean") == -0.5
    assert math.isnan(evaluation_score(returns, metrics, "length"))  # no episode finished: no score
    assert math.isnan(evaluation_score(returns, {}, "clean"))  # an env that reports metrics only at episode ends
    with pytest.raises(ConfigError, match=r"training.fitness_metric.*'wins'.*clean, length"):
        evaluation_score(returns, metrics, "wins")


def test_atc_reports_clean_episodes():
    env = make_vec_env("atc/random", num_envs=64, seed=3, num_aircraft=4)
    from evo_marl.envs.episodes import run_episodes

    straight = {a: np.zeros((64, *env.single_action_space(a).shape), np.float32) for a in env.agents}
    res = run_episodes(lambda obs, infos: straight, env, seed=3)
    expected = (res.metrics["los_events"] == 0) & (res.metrics["waypoint_fraction"] >= 1.0)
    np.testing.assert_array_equal(res.metrics["clean"], expected.astype(float))
    assert 0 < res.metrics["clean"].sum() < 64  # straight flight: some episodes clean, some not


def test_selection_ranks_members_by_the_named_metric(tmp_path):
    recorder = RecordList()
    _, history, run_dir = run_experiment(_config(tmp_path, "clean", num_aircraft=3), verbose=False,
                                         writers=[recorder])
    assert len(recorder.records) == 3
    for record, fitness in zip(recorder.records, history):
        for member, value in zip(record.members, fitness):
            assert member.fitness == pytest.approx(member.eval_metrics["clean"])  # window 1: this evaluation
            assert member.fitness == value
            assert math.isfinite(member.eval_return) and member.eval_return != member.fitness  # return still recorded
    scores = [m.fitness for r in recorder.records for m in r.members]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert "| Fitness | mean evaluation clean |" in build_report(run_dir)
    assert load_run(run_dir).fitness_description == "mean evaluation clean"  # the fitness plot's axis
    _, results = evaluate_run(run_dir, episodes=16)  # scored as the run scored its members, return beside it
    row = results["members"][0]
    assert row["fitness"] == pytest.approx(row["metrics"]["clean"]) and row["return"] != row["fitness"]


def test_a_minimised_metric_is_negated(tmp_path):
    recorder = RecordList()
    run_experiment(_config(tmp_path, "-los_steps", num_aircraft=4), verbose=False, writers=[recorder])
    for member in recorder.records[-1].members:
        assert member.fitness == pytest.approx(-member.eval_metrics["los_steps"])


def test_a_metric_the_env_lacks_is_refused_before_training(tmp_path):
    config = _config(tmp_path, "clean", env_id="tiny/coop_box")
    with pytest.raises(ConfigError, match=r"training.fitness_metric.*'clean'.*reports: team_return"):
        run_experiment(config, verbose=False)
    assert not (tmp_path / config.name).exists() or not any((tmp_path / config.name).glob("generation_*"))



def test_an_env_without_episode_metrics_is_refused_before_training_or_at_its_first_evaluation(tmp_path):
    """Adapters of PettingZoo / Gymnasium envs know up front that they report none; an env that cannot say is
    refused once its episodes finished without any."""
    from evo_marl.envs.vector import VectorEnv
    from evo_marl.training.evaluation import evaluate_population

    config = _config(tmp_path, "clean", env_id="gym/CartPole-v1")
    with pytest.raises(ConfigError, match=r"training.fitness_metric.*'clean'.*reports: none"):
        run_experiment(config, verbose=False)
    env = make_vec_env("gym/CartPole-v1", num_envs=2, seed=0, max_episode_steps=5)
    assert env.episode_metric_names() == frozenset()
    env.episode_metric_names = lambda: VectorEnv.episode_metric_names(env)  # an env that cannot say (None)
    population = build_population(config, env)
    assert [round(e.fitness, 3) for e in evaluate_population(population, env, seed=0)] == [5.0] * 3
    with pytest.raises(ConfigError, match=r"training.fitness_metric.*'clean'.*reports: none"):
        evaluate_population(population, env, seed=0, fitness_metric="clean")
