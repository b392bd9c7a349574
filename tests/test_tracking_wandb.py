"""W&B writer: a real offline run of a short experiment holds the per-member and per-generation metrics,
resumed experiments continue the same W&B run, and W&B failures never stop training."""

from __future__ import annotations

import json
import logging
import math
import sys

import pytest

from evo_marl import train_multi_agent_off_policy
from evo_marl.errors import ConfigError
from evo_marl.tracking.plots import plot_run
from evo_marl.tracking.report import build_report
from evo_marl.tracking.run_data import load_run
from evo_marl.tracking.wandb_offline import find_offline_runs, is_complete, read_offline_run, wait_until_complete
from evo_marl.tracking.wandb_writer import WandbUnavailable, WandbWriter, generation_metrics, member_metrics
from evo_marl.tracking.writers import CSVWriter, WriterGroup
from evo_marl.training.settings import RunSettings
from evo_marl.training.trainer import build_writers
from test_tracking_synthetic import synthetic_records

MUT_P = {"NO_MUT": 0.2, "ARCH_MUT": 0.2, "PARAMS_MUT": 0.2, "ACT_MUT": 0.2, "RL_HP_MUT": 0.2}


def train_tiny(tiny_population, run_dir, max_steps: int = 300, **kwargs):
    env, pop, memory, hp = tiny_population("MATD3", pop_size=3, num_envs=2, seed=0)
    return train_multi_agent_off_policy(env, "tiny", "MATD3", pop, memory, INIT_HP=hp, MUT_P=MUT_P,
                                        max_steps=max_steps, evo_steps=100, eval_loop=2, seed=7, run_dir=run_dir,
                                        verbose=False, **kwargs)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """A short MATD3 experiment on tiny/coop_box logged to an offline W&B run inside its run folder."""
    from conftest import make_tiny_population

    run_dir = tmp_path_factory.mktemp("wandb_run")
    _, history = train_tiny(make_tiny_population, run_dir, wb=True, wandb_kwargs={"mode": "offline"})
    return run_dir, history


def test_offline_run_holds_member_and_generation_metrics(offline_run):
    run_dir, history = offline_run
    found = find_offline_runs(run_dir / "wandb")
    assert len(found) == 1
    wb = read_offline_run(found[0])
    info = json.loads((run_dir / "wandb_run.json").read_text())
    assert info["id"] == wb.run_id and info["mode"] == "offline" and info["offline_dirs"] == [str(found[0])]
    data = load_run(run_dir)
    assert wb.column("generation") == data.generation_numbers == [1, 2, 3]
    rows = {row["generation"]: row for row in wb.history}
    for m in data.members:  # every member of every generation, namespaced by its index
        row, key = rows[m.generation], f"member/{m.index}"
        assert row[f"{key}/fitness"] == pytest.approx(m.fitness)
        assert row[f"{key}/parent"] == (m.parent if m.parent is not None else -1)
        assert row[f"{key}/mutation"] == m.mutation and row[f"{key}/mutation_kind"] == m.kind
        assert row[f"{key}/steps"] == m.steps and row[f"{key}/parameter_count"] == m.parameter_count
        assert row[f"{key}/hp/lr_actor"] == pytest.approx(m.hyperparameters["lr_actor"])
        assert row[f"{key}/hidden_units"] == sum(sum(v) for v in m.architecture.values())
    for g, fitnesses in enumerate(history, start=1):
        row = rows[g]
        assert row["evo/best_fitness"] == pytest.approx(max(fitnesses))
        assert row["evo/mean_fitness"] == pytest.approx(sum(fitnesses) / len(fitnesses))
        assert row["evo/min_fitness"] == pytest.approx(min(fitnesses))
        assert row["eval/team_return"] == pytest.approx(max(fitnesses))  # the best member's episode metrics
        assert row["train/transitions_per_second"] > 0 and row["time/learning"] >= 0
        table = row["population"]
        assert table["_type"] == "table-file" and table["nrows"] == 3
        table_json = json.loads((found[0] / "files" / table["path"]).read_text())
        assert "hp/lr_actor" in table_json["columns"] and len(table_json["data"]) == 3
    best = max(max(f) for f in history)
    assert wb.summary["evo/best_fitness"] == {"max": pytest.approx(best)}
    assert wb.metrics["member/*"]["step_metric"] == "generation"
    assert wb.metrics["evo/best_fitness"] == {"step_metric": "generation", "summary": ["max"]}
    assert wb.config["population_size"] == 3 and wb.config["run_dir"] == str(run_dir.resolve())


def test_plots_and_report_of_a_real_run(offline_run):
    run_dir, history = offline_run
    paths = plot_run(run_dir)
    assert [p.name for p in paths] == ["fitness.png", "hyperparameters.png", "family_tree.png"]
    assert all(p.stat().st_size > 15_000 for p in paths)
    text = build_report(run_dir)
    best = load_run(run_dir).best()
    assert f"**Member #{best.index}**" in text and f"**{best.fitness:.4g}**" in text
    assert "MATD3 on `tiny`" in text and "wandb sync --id" in text and "](family_tree.png)" in text


def test_resumed_experiment_continues_the_same_wandb_run(tmp_path):
    records = synthetic_records(generations=4, population=3)
    csv_writer, wb = CSVWriter(tmp_path), WandbWriter(tmp_path, mode="offline")
    group = WriterGroup([csv_writer, wb])
    for record in records[:2]:
        group.write_generation(record)
    group.close()
    first_id = wb_id = json.loads((tmp_path / "wandb_run.json").read_text())["id"]
    # the trainer keeps metrics.csv only when it resumes: the writer then continues the stored run
    group = WriterGroup([CSVWriter(tmp_path, resume_after=2), WandbWriter(tmp_path, mode="offline")])
    for record in records[2:]:
        group.write_generation(record)
    group.close()
    info = json.loads((tmp_path / "wandb_run.json").read_text())
    assert info["id"] == first_id and len(info["offline_dirs"]) == 2
    parts = [read_offline_run(p) for p in info["offline_dirs"]]
    assert [p.run_id for p in parts] == [wb_id, wb_id]
    assert [p.column("generation") for p in parts] == [[1, 2], [3, 4]]
    # a fresh (not resumed) experiment in the same folder starts a new W&B run
    CSVWriter(tmp_path)  # deletes metrics.csv, as a fresh run does
    fresh = WandbWriter(tmp_path, mode="offline")
    fresh.close()
    assert json.loads((tmp_path / "wandb_run.json").read_text())["id"] != first_id


def test_training_finishes_when_wandb_init_fails(tiny_population, tmp_path, monkeypatch, caplog):
    import wandb

    def no_network(*args, **kwargs):
        raise wandb.errors.CommError("network unreachable")

    monkeypatch.setattr(wandb, "init", no_network)
    with caplog.at_level(logging.WARNING):
        _, history = train_tiny(tiny_population, tmp_path, max_steps=200, wb=True)
    assert len(history) == 2 and len(load_run(tmp_path).members) == 6
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "W&B logging is off" in message and "network unreachable" in message and "offline" in message
    assert not (tmp_path / "wandb_run.json").exists()


@pytest.mark.parametrize("kwargs,expected", [({"mode": "bogus"}, "mode"), ({"member_key": "name"}, "member_key")])
def test_invalid_wandb_settings_give_one_warning_from_build_writers(tmp_path, caplog, kwargs, expected):
    with caplog.at_level(logging.WARNING):
        group = build_writers(tmp_path, None, RunSettings("tiny", wandb=True, wandb_kwargs=kwargs), [])
    assert [type(w).__name__ for w in group.writers] == ["CSVWriter", "LogWriter"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and expected in warnings[0]


def test_missing_wandb_package_is_reported_clearly(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(WandbUnavailable, match="pip install wandb"):
        WandbWriter(tmp_path)


def test_a_failing_log_call_disables_the_writer_with_one_warning(tmp_path, caplog):
    writer = WandbWriter(tmp_path, mode="offline")
    run = writer.run

    def broken(*args, **kwargs):
        raise ConnectionError("upload failed")

    writer.run.log = broken
    group = WriterGroup([writer])
    with caplog.at_level(logging.WARNING):
        for record in synthetic_records(generations=3, population=2):
            group.write_generation(record)
    group.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "WandbWriter" in warnings[0] and "upload failed" in warnings[0]
    assert group.writers == [] and writer.run is None and run._is_finished


def test_member_metrics_and_slot_keys():
    record = synthetic_records(generations=2, population=3)[1]
    member = record.members[1]
    out = member_metrics(member, member.index)
    assert out[f"member/{member.index}/hp/O_U_noise"] == 0  # bools become numbers W&B can chart
    assert out[f"member/{member.index}/parent"] == member.parent
    by_slot = generation_metrics(record, member_key="slot")
    assert {k.split("/")[1] for k in by_slot if k.startswith("member/")} == {"0", "1", "2"}
    assert by_slot["evo/best_fitness"] == pytest.approx(record.best_fitness)
    assert by_slot["eval/los_events"] == record.best.eval_metrics["los_events"]
    assert by_slot["evo/failed_members"] == sum(not math.isfinite(m.fitness) for m in record.members)
    with pytest.raises(ConfigError, match="member_key='name'"):
        WandbWriter("unused", member_key="name")


def test_offline_reader_sees_incomplete_and_foreign_files(offline_run, tmp_path):
    run_dir, _ = offline_run
    complete = next(find_offline_runs(run_dir / "wandb")[0].glob("*.wandb"))
    assert is_complete(complete)
    data = complete.read_bytes()
    header_only, torn = tmp_path / "header.wandb", tmp_path / "torn.wandb"
    header_only.write_bytes(data[:7])  # what W&B has on disk right after run.finish() returns, at worst
    torn.write_bytes(data[: len(data) // 2])
    assert not is_complete(header_only) and not is_complete(torn)
    assert not wait_until_complete(header_only, timeout=0.2)
    torn_run = read_offline_run(torn)  # a torn tail is skipped, earlier records are still read
    assert torn_run.run_id == read_offline_run(complete).run_id and len(torn_run.history) < 3
    foreign = tmp_path / "foreign.wandb"
    foreign.write_bytes(b"not a wandb log")
    with pytest.raises(ConfigError, match="path=.*W&B transaction log"):
        read_offline_run(foreign)
