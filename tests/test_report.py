"""The Markdown run report names the best member and its fitness, links the files and explains W&B."""

from __future__ import annotations

import json
import math

import pytest

from evo_marl.errors import ConfigError
from evo_marl.tracking.report import build_report, sparkline, write_report
from evo_marl.tracking.run_data import load_run
from test_tracking_synthetic import make_synthetic_run


def test_report_names_the_best_member_its_fitness_and_lineage(tmp_path):
    records = make_synthetic_run(tmp_path, generations=6, population=4, seed=11)
    best = max((m for r in records for m in r.members if math.isfinite(m.fitness)), key=lambda m: m.fitness)
    text = build_report(tmp_path)
    assert f"**Member #{best.index}**" in text
    assert f"fitness **{best.fitness:.4g}**" in text
    assert f"the best of {sum(len(r.members) for r in records)} member evaluations" in text
    chain = load_run(tmp_path).lineage(load_run(tmp_path).best())
    for member in chain:  # every ancestor appears in the lineage table
        assert f"| {member.generation} | #{member.index} |" in text
    for name in best.hyperparameters:
        assert f"| {name} |" in text
    for net, layers in best.architecture.items():
        assert f"| {net} | {layers} |" in text
    last = records[-1]  # the fitness table has a row for the last generation
    assert f"\n| 6 | {last.best_fitness:.4g} | {last.mean_fitness:.4g} | {last.min_fitness:.4g} | #{last.best.index} |" \
        in text
    assert "W&B was off for this run" in text


def test_write_report_draws_and_links_the_plots(tmp_path):
    make_synthetic_run(tmp_path, generations=3, population=3)
    path = write_report(tmp_path)
    assert path == tmp_path / "report.md"
    text = path.read_text()
    for name in ("fitness", "hyperparameters", "family_tree"):
        assert f"]({name}.png)" in text and (tmp_path / f"{name}.png").exists()
    assert "[`metrics.csv`](metrics.csv)" in text


def test_report_without_plots_says_how_to_draw_them(tmp_path):
    make_synthetic_run(tmp_path, generations=2, population=2)
    assert "Plots: none yet" in build_report(tmp_path)


def test_report_explains_how_to_sync_an_offline_wandb_run(tmp_path):
    make_synthetic_run(tmp_path, generations=2, population=2)
    offline = tmp_path / "wandb" / "offline-run-20250101_000000-abc123"
    offline.mkdir(parents=True)
    (tmp_path / "wandb_run.json").write_text(json.dumps(
        {"id": "abc123", "project": "evo-marl", "mode": "offline", "offline_dirs": [str(offline)]}))
    text = build_report(tmp_path)
    assert f"wandb sync --id abc123 -p evo-marl {offline}" in text
    (tmp_path / "wandb_run.json").write_text(json.dumps(
        {"id": "abc123", "project": "p", "mode": "online", "url": "https://wandb.ai/me/p/runs/abc123"}))
    assert "<https://wandb.ai/me/p/runs/abc123>" in build_report(tmp_path)


def test_long_runs_get_a_compact_fitness_table(tmp_path):
    make_synthetic_run(tmp_path, generations=45, population=2, seed=2)
    text = build_report(tmp_path)
    assert "(20 of 45 generations shown" in text
    assert "\n| 1 |" in text and "\n| 45 |" in text


def test_sparkline():
    assert sparkline([0.0, 1.0, 2.0, 3.0]) == "▁▃▆█"
    assert sparkline([1.0, math.nan, 1.0]) == "▁ ▁"
    assert len(sparkline([float(i) for i in range(500)], width=40)) == 40
    assert sparkline([math.nan]) == ""


def test_report_of_a_folder_without_metrics_names_it(tmp_path):
    with pytest.raises(ConfigError, match="run_dir="):
        build_report(tmp_path / "nope")


def test_report_tabulates_what_each_mutation_kind_did(tmp_path):
    records = make_synthetic_run(tmp_path, generations=8, population=5, seed=1)
    text = build_report(tmp_path)
    kinds = {m.kind for m in load_run(tmp_path).members if m.parent is not None}
    assert "## Mutations" in text and kinds >= {"elite", "rl_hp"}
    for kind in kinds:
        count = sum(1 for m in load_run(tmp_path).members if m.parent is not None and m.kind == kind)
        assert f"\n| {kind} | {count} |" in text
    assert len(records) == 8
