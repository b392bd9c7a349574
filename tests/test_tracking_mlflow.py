"""MLflow writer: a tiny experiment's metrics, parameters and lineage read back through MLflow's own client,
resumed runs that never log a generation twice, and a missing or failing MLflow that only warns."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sys

import pytest

from evo_marl.config import load_config
from evo_marl.errors import ConfigError
from evo_marl.experiment import run_experiment
from evo_marl.tracking.mlflow_writer import MLFLOW_ID_FILE, STORE_SUBDIR, MLflowWriter, default_tracking_uri

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """An empty MLflow SQLite store: copied into run folders so most tests skip MLflow's schema migrations."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient("sqlite:///" + str(path)).search_experiments()
    return path


def tiny_config(tmp_path, max_steps: int = 300, **tracking):
    return load_config({
        "name": "mlflow_run", "seed": 3, "algo": "MATD3", "population_size": 3,
        "env": {"id": "tiny/coop_box", "num_envs": 2}, "net_config": {"hidden_size": [16]},
        "init_hp": {"BATCH_SIZE": 32, "LEARN_STEP": 8},
        "training": {"max_steps": max_steps, "evo_steps": 100, "eval_loop": 2, "learning_delay": 50},
        "output": {"root": str(tmp_path), "plots": False},
        "tracking": {"mlflow": True, **tracking},
    })


def with_store(config, empty_store):
    (config.run_dir / STORE_SUBDIR).mkdir(parents=True, exist_ok=True)
    shutil.copy(empty_store, config.run_dir / STORE_SUBDIR / "mlflow.db")
    return config


def stored_run(run_dir):
    info = json.loads((run_dir / MLFLOW_ID_FILE).read_text())
    client = MlflowClient(info["tracking_uri"])
    return client, client.get_run(info["run_id"])


def steps(client, run, key="evo/best_fitness"):
    return [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]


def csv_members(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_metrics_params_and_lineage_read_back_through_mlflow(tmp_path):
    config = tiny_config(tmp_path)
    pop, history, run_dir = run_experiment(config, verbose=False)  # a fresh default store in the run folder
    client, run = stored_run(run_dir)
    assert client.tracking_uri == default_tracking_uri(run_dir)
    assert (run_dir / STORE_SUBDIR / "mlflow.db").is_file()
    assert run.info.status == "FINISHED" and run.info.run_name == "mlflow_run"
    assert client.get_experiment(run.info.experiment_id).name == "evo-marl"

    best = steps(client, run)
    assert [s for s, _ in best] == [1, 2, 3]
    assert [v for _, v in best] == pytest.approx([max(g) for g in history])
    rows = csv_members(run_dir)
    assert len(rows) == 9
    for row in rows:  # every member of every generation: fitness, lineage, hyperparameters
        g, k = int(row["generation"]), row["index"]
        fitness = dict((s, v) for s, v in steps(client, run, f"member/{k}/fitness"))
        assert fitness[g] == pytest.approx(float(row["fitness"]))
        parent = dict(steps(client, run, f"member/{k}/parent"))[g]
        assert parent == (float(row["parent"]) if row["parent"] else -1.0)
        lr = dict(steps(client, run, f"member/{k}/hp/lr_actor"))[g]
        assert lr == pytest.approx(json.loads(row["hyperparameters"])["lr_actor"])

    params = run.data.params
    assert params["config.algo"] == "MATD3" and params["config.training.max_steps"] == "300"
    assert params["config.env.id"] == "tiny/coop_box" and params["population_size"] == "3"
    first = [r for r in rows if r["generation"] == "1"][0]
    assert params["initial_hp.lr_actor"] == str(json.loads(first["hyperparameters"])["lr_actor"])
    assert params["activation"] == first["activation"]

    for g in (1, 2, 3):  # the lineage table of each generation, with the mutation texts CSV holds
        table = json.loads(open(client.download_artifacts(run.info.run_id, f"population/generation_{g:05d}.json",
                                                          str(tmp_path))).read())
        got = [dict(zip(table["columns"], r)) for r in table["rows"]]
        want = [r for r in rows if int(r["generation"]) == g]
        assert [(m["index"], m["parent"], m["mutation"]) for m in got] == [
            (int(r["index"]), int(r["parent"]) if r["parent"] else -1, r["mutation"]) for r in want]
    best_member = max((r for r in rows), key=lambda r: float(r["fitness"]))
    assert run.data.tags["best_member"] == best_member["index"]


def test_a_resumed_experiment_continues_the_same_run_and_logs_each_generation_once(tmp_path, empty_store):
    run_experiment(with_store(tiny_config(tmp_path, max_steps=200), empty_store), verbose=False)
    first = json.loads((tmp_path / "mlflow_run" / MLFLOW_ID_FILE).read_text())["run_id"]
    _, history, run_dir = run_experiment(tiny_config(tmp_path, max_steps=400), resume=True, verbose=False)
    client, run = stored_run(run_dir)
    assert run.info.run_id == first and run.info.status == "FINISHED"
    assert [s for s, _ in steps(client, run)] == [1, 2, 3, 4] and len(history) == 4
    assert run.data.params["config.training.max_steps"] == "200"  # MLflow params never change ...
    assert run.data.tags["resumed_config.training.max_steps"] == "400"  # ... the resumed value is a tag


def test_generations_logged_past_the_checkpoint_move_the_history_to_a_new_run(tmp_path, empty_store):
    """An interrupted run had logged generation 3 but its checkpoint is generation 2: no step twice in one run."""
    run_experiment(with_store(tiny_config(tmp_path), empty_store), verbose=False)
    client, old = stored_run(tmp_path / "mlflow_run")
    shutil.rmtree(tmp_path / "mlflow_run" / "generation_00003")
    _, history, run_dir = run_experiment(tiny_config(tmp_path), resume=True, verbose=False)
    client, new = stored_run(run_dir)
    assert new.info.run_id != old.info.run_id
    assert new.data.tags["evo_marl.resumed_from"] == old.info.run_id
    assert client.get_run(old.info.run_id).data.tags["evo_marl.superseded_by"] == new.info.run_id
    new_best = steps(client, new)
    assert [s for s, _ in new_best] == [1, 2, 3]
    assert new_best[:2] == steps(client, old)[:2]  # the history before the checkpoint, copied
    assert new_best[2][1] == pytest.approx(max(history[2]))
    assert new.data.params == old.data.params
    assert [f.path for f in client.list_artifacts(new.info.run_id, "population")] == [
        f"population/generation_{g:05d}.json" for g in (1, 2, 3)]


def test_a_resume_whose_stored_run_is_not_in_the_store_starts_a_new_run(tmp_path, empty_store, caplog):
    run_experiment(with_store(tiny_config(tmp_path, max_steps=200), empty_store), verbose=False)
    id_file = tmp_path / "mlflow_run" / MLFLOW_ID_FILE
    info = json.loads(id_file.read_text())
    id_file.write_text(json.dumps({**info, "run_id": "0" * 32}))  # e.g. a run folder copied beside another store
    with caplog.at_level(logging.WARNING):
        _, history, run_dir = run_experiment(tiny_config(tmp_path, max_steps=300), resume=True, verbose=False)
    client, run = stored_run(run_dir)
    assert run.info.run_id not in (info["run_id"], "0" * 32)
    assert any("a new MLflow run is started" in r.getMessage() for r in caplog.records)
    assert [s for s, _ in steps(client, run)] == [3] and len(history) == 3


def test_the_python_api_keyword_logs_to_a_shared_store_and_experiment(tmp_path, tiny_population, empty_store):
    from evo_marl import train_multi_agent_off_policy

    uri = "sqlite:///" + str(shutil.copy(empty_store, tmp_path / "shared.db"))
    for name in ("a", "b"):
        env, pop, memory, hp = tiny_population("MADDPG", pop_size=2, num_envs=2)
        train_multi_agent_off_policy(env, "tiny", "MADDPG", pop, memory, INIT_HP=hp, max_steps=200, evo_steps=100,
                                     eval_loop=1, verbose=False, seed=0, run_dir=tmp_path / name, mlflow=True,
                                     mlflow_kwargs={"tracking_uri": uri, "experiment_name": "shared"})
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("shared")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["a", "b"]
    assert all([m.step for m in client.get_metric_history(r.info.run_id, "evo/mean_fitness")] == [1, 2] for r in runs)
    assert len(list((tmp_path / "artifacts").rglob("generation_00002.json"))) == 2  # beside the database


@pytest.mark.parametrize("cause", ["missing package", "bad tracking uri"])
def test_an_unavailable_mlflow_warns_once_and_training_goes_on(tmp_path, monkeypatch, caplog, cause):
    if cause == "missing package":
        for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
            monkeypatch.setitem(sys.modules, name, None)  # "not installed"
        config = tiny_config(tmp_path, max_steps=200)
    else:
        config = tiny_config(tmp_path, max_steps=200, mlflow_kwargs={"tracking_uri": "nosuchscheme://x"})
    with caplog.at_level(logging.WARNING):
        _, history, run_dir = run_experiment(config, verbose=False)
    warnings = [r for r in caplog.records if "MLflow logging is off" in r.getMessage()]
    assert len(warnings) == 1 and len(history) == 2
    assert ("mlflow is not installed" if cause == "missing package" else "nosuchscheme") in warnings[0].getMessage()
    assert not (run_dir / MLFLOW_ID_FILE).exists() and (run_dir / "metrics.csv").is_file()


def test_a_backend_failing_mid_run_is_switched_off_with_one_warning(tmp_path, monkeypatch, caplog, empty_store):
    calls = {"n": 0}
    original = MlflowClient.log_dict

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_dict", flaky)
    with caplog.at_level(logging.WARNING):
        _, history, run_dir = run_experiment(with_store(tiny_config(tmp_path), empty_store), verbose=False)
    failures = [r for r in caplog.records if "MLflowWriter failed" in r.getMessage()]
    assert len(failures) == 1 and "disk full" in failures[0].getMessage()
    assert len(history) == 3 and len(csv_members(run_dir)) == 9  # training and CSV went on
    client, run = stored_run(run_dir)
    assert run.info.status == "FAILED" and [s for s, _ in steps(client, run)] == [1, 2]


def test_bad_options_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="member_key='nope'"):
        MLflowWriter(tmp_path, member_key="nope")
