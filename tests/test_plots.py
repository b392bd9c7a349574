"""Plots of a run folder: files exist, are real images (not blank), and the plug-in hook works."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from evo_marl.errors import ConfigError
from evo_marl.tracking import plots
from evo_marl.tracking.plots import plot_family_tree, plot_fitness, plot_hyperparameters, plot_run
from test_tracking_synthetic import make_synthetic_run


def assert_real_png(path: Path, min_bytes: int = 15_000) -> np.ndarray:
    """The PNG exists, is not tiny, and its pixels vary (a blank figure has one colour)."""
    assert path.exists(), path
    assert path.stat().st_size > min_bytes, (path, path.stat().st_size)
    pixels = imread(path)[..., :3]
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500
    assert pixels.std() > 0.05, f"{path} looks blank (pixel std {pixels.std():.4f})"
    non_white = (pixels.mean(axis=-1) < 0.9).mean()
    assert non_white > 0.02, f"{path}: only {non_white:.1%} of the pixels are drawn"
    return pixels


def test_plot_run_writes_three_real_pngs(tmp_path):
    make_synthetic_run(tmp_path, generations=8, population=5, seed=1)
    paths = plot_run(tmp_path)
    assert [p.name for p in paths] == ["fitness.png", "hyperparameters.png", "family_tree.png"]
    for p in paths:
        assert p.parent == tmp_path
        assert_real_png(p)


def test_fitness_plot_zooms_when_early_generations_dwarf_the_rest(tmp_path):
    make_synthetic_run(tmp_path / "flat", generations=8, population=4, seed=2)
    make_synthetic_run(tmp_path / "jump", generations=8, population=4, seed=2, jump=200.0)
    flat = imread(plot_fitness(tmp_path / "flat"))
    jump = imread(plot_fitness(tmp_path / "jump"))
    assert jump.shape[1] > flat.shape[1] * 1.3  # the zoom panel widens the figure


def test_plots_handle_a_failed_member_and_no_mutated_hyperparameter(tmp_path):
    make_synthetic_run(tmp_path, generations=4, population=3, seed=5, fail=(2, 1))
    for make in (plot_fitness, plot_hyperparameters, plot_family_tree):
        assert_real_png(make(tmp_path), min_bytes=10_000)


def test_family_tree_keeps_the_last_generations_of_a_long_run(tmp_path):
    make_synthetic_run(tmp_path, generations=30, population=4, seed=4)
    short = imread(plot_family_tree(tmp_path, max_generations=10))
    full = imread(plot_family_tree(tmp_path, max_generations=None))
    assert full.shape[1] > short.shape[1]


def test_extra_and_registered_plotters_are_called(tmp_path, monkeypatch):
    make_synthetic_run(tmp_path, generations=3, population=3)
    calls = []

    def extra(run_dir: Path, out_dir: Path) -> Path:
        calls.append((run_dir, out_dir))
        path = out_dir / "extra.png"
        path.write_bytes(b"png")
        return path

    monkeypatch.setattr(plots, "_REGISTERED", {})
    plots.register_plotter("not_my_scenario", lambda run_dir, out_dir: None)
    paths = plot_run(tmp_path, extra_plotters=[extra])
    assert calls == [(tmp_path, tmp_path)]
    assert paths[-1] == tmp_path / "extra.png" and len(paths) == 4
    with pytest.raises(ConfigError, match="plotter="):
        plots.register_plotter("bad", "not callable")


def test_a_failing_plotter_is_skipped_with_one_warning(tmp_path, caplog):
    make_synthetic_run(tmp_path, generations=3, population=3)

    def broken(run_dir, out_dir):
        raise RuntimeError("no trajectories in this run")

    with caplog.at_level(logging.WARNING):
        paths = plot_run(tmp_path, extra_plotters=[broken], registered=False)
    assert len(paths) == 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "broken" in warnings[0].getMessage()
    assert "no trajectories" in warnings[0].getMessage()


def test_plot_run_of_a_folder_without_metrics_names_it(tmp_path):
    with pytest.raises(ConfigError, match="run_dir=.*metrics.csv"):
        plot_run(tmp_path)
