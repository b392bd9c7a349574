"""Every bad input gets a named error (type and message: field, value, rule) before any training, and nothing
a run wrote is lost or silently replaced. The cases of the hostile probe of issue 15 are all here; see
docs/reliability.md for what is guaranteed. Kills: test_kill_resume.py; full/read-only disks: test_disk_faults.py.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from gymnasium import spaces

from evo_marl import (CheckpointError, ConfigError, EnvError, RunSettings, TournamentSelection, create_population,
                      list_envs, load_population, make_env, make_vec_env, train_multi_agent_off_policy)
from evo_marl.cli import main
from evo_marl.config import load_config
from evo_marl.envs.atc import load_scenario
from evo_marl.evaluate_run import evaluate_run
from evo_marl.experiment import run_experiment
from evo_marl.hpo import HyperparameterConfig, RLParameter
from evo_marl.run_folder import BEST_DIR, generation_dirs, latest_complete_generation, read_manifest
from evo_marl.training.trainer import train_population
from evo_marl.validation import option_path
from conftest import RaisingEnv, make_tiny_population

BOX = spaces.Box(-1, 1, (2,), np.float32)
TINY = {"env": {"id": "tiny/coop_box", "num_envs": 2}, "population_size": 2, "net_config": {"hidden_size": [16]},
        "init_hp": {"BATCH_SIZE": 16, "LEARN_STEP": 4},
        "training": {"max_steps": 40, "evo_steps": 20, "eval_loop": 2, "learning_delay": 16, "memory_size": 1000},
        "output": {"plots": False}}


def tiny(**changes) -> dict:
    """The TINY experiment with nested changes (``training={"max_steps": 10}`` updates that section)."""
    data = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return data


# ------------------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("data,message", [
    (tiny(net_config={"hidden_size": []}), r"net_config.hidden_size=\[\]: must be a non-empty list of positive"),
    (tiny(hp_ranges={"lr_actor": 5}), r"hp_ranges.lr_actor=5: must be a mapping with min and max"),
    (tiny(hp_ranges={"batch_size": {"min": 0, "max": 64, "dtype": "int"}}),
     r"hp_ranges.batch_size.min=0: must be a finite number in \[1, "),
    (tiny(hp_ranges={"batch_size": {"min": 8, "max": 4096, "dtype": "int"}}),
     r"hp_ranges.batch_size.max=4096: must be <= training.memory_size \(1000\): a mutated member"),
    (tiny(training={"memory_size": 300}),
     r"hp_ranges.batch_size.max=512: \(the MATD3 default range\) must be <= training.memory_size \(300\)"),
    (tiny(hp_ranges={"lr_actor": {"min": 5, "max": 0.01}}), r"hp_ranges.lr_actor.min=5: must be <= max \(0.01\)"),
    (tiny(hp_ranges={"gamma": {"min": 0.5, "max": 1.5}}), r"hp_ranges.gamma.max=1.5: must be a finite number in"),
    (tiny(hp_ranges={"clip_coef": {"min": 0.1, "max": 0.3}}), r"hp_ranges.clip_coef=.*unknown numeric hyperparameter"),
    (tiny(training={"evo_steps": 100}), r"training.evo_steps=100: must be <= training.max_steps \(40\)"),
    (tiny(init_hp={"BATCH_SIZE": 2000}), r"init_hp.BATCH_SIZE=2000: must be <= training.memory_size \(1000\)"),
    (tiny(selection={"tournament_size": 3}), r"selection.tournament_size=3: must be <= population_size \(2\)"),
    (tiny(init_hp={"CLIP_COEF": 0.2}), r"init_hp.CLIP_COEF=0.2: is a hyperparameter of IPPO, not of MATD3"),
    (tiny(name=".."), r"name='..': must be a non-empty run name without '/'"),
    (tiny(name="../escape"), r"name='../escape': must be a non-empty run name without '/'"),
    (tiny(output={"keep_checkpoints": -1}), r"output.keep_checkpoints=-1: must be an integer >= 1 .* or 'all'"),
    (tiny(output={"keep_checkpoints": 0}), r"output.keep_checkpoints=0: must be an integer >= 1"),
    (tiny(output={"keep_checkpoints": "some"}), r"output.keep_checkpoints='some': must be an integer >= 1"),
    (tiny(output={"keep_every": 0}), r"output.keep_every=0: must be an integer >= 1"),
    (tiny(training={"stopping": {"convergence_window": 0}}),
     r"training.stopping.convergence_window=0: must be an integer >= 1"),
    (tiny(env={"kwargs": {"seed": 3}}), r"env.kwargs.seed=3: is set by seed; remove it from env.kwargs"),
    (tiny(env={"kwargs": {"num_envs": 3}}), r"env.kwargs.num_envs=3: is set by env.num_envs"),
    (tiny(algo="IPPO", init_hp={}), r"training.learning_delay=16: applies to off-policy algorithms only, not IPPO"),
    ({"population_size": 2}, r"env.id=None: is required"),
    (tiny(trainig={}), r"trainig=\{\}: unknown field; did you mean 'training'\?"),
])
def test_bad_config_is_a_named_error(data, message):
    with pytest.raises(ConfigError, match=message):
        load_config(data)


def test_yaml_whose_top_level_is_a_list(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- env: {id: tiny/coop_box}\n")
    with pytest.raises(ConfigError, match=r"config='.*list.yaml': must hold a mapping of fields at the top level "
                                          r".*found a list"):
        load_config(path)


def test_yaml_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml': is not UTF-8 text \(byte 9"):
        load_config(path)


def test_keep_checkpoints_all_keeps_every_generation():
    assert load_config(tiny(output={"keep_checkpoints": "all"})).output.keep_checkpoints is None
    assert load_config(tiny(output={"keep_checkpoints": 2})).output.keep_checkpoints == 2


def test_keep_every_keeps_the_generations_to_look_back_on(tmp_path):
    """The newest ``keep_checkpoints`` folders and those of every ``keep_every``-th generation."""
    config = load_config(tiny(training={"max_steps": 140}, output={"root": str(tmp_path), "keep_checkpoints": 1,
                                                                    "keep_every": 3}))
    run_experiment(config, verbose=False)
    assert [p.name for p in generation_dirs(config.run_dir)] == ["generation_00003", "generation_00006",
                                                                 "generation_00007"]
    assert evaluate_run(config.run_dir / "generation_00003", episodes=2)[1]["generation"] == "generation_00003"


# ------------------------------------------------------------------------------------------- envs and scenarios
def test_unknown_env_option_lists_the_valid_ones():
    with pytest.raises(EnvError, match=r"env option foo=1: not an option of 'tiny/coop_box'; valid options are "
                                       r"\['num_agents', 'episode_length'\]"):
        make_vec_env("tiny/coop_box", 2, foo=1)


@pytest.mark.parametrize("kwargs,message", [
    ({"neighbor_topk": -1}, r"^env.kwargs.neighbor_topk=-1: must be an integer >= 0"),
    ({"reward": {"buffer_nm": -1}}, r"^env.kwargs.reward.buffer_nm=-1: must be >= 0"),
    ({"traffic": [{"scenario": "random", "num_aircraft": [2, 4]}, {"scenario": "random", "num_aircraft": [2, 99]}]},
     r"^env.kwargs.traffic\[1\].num_aircraft=\[2, 99\]: must be an integer or a \[low, high\] pair"),
])
def test_an_env_option_error_names_its_place_in_the_config(tmp_path, kwargs, message):
    config = load_config(tiny(env={"id": "atc/mix" if "traffic" in kwargs else "atc/random", "kwargs": kwargs},
                              output={"root": str(tmp_path)}))
    with pytest.raises(ConfigError, match=message):
        run_experiment(config, verbose=False)
    assert not config.run_dir.exists(), "nothing is written before the env is built"


def test_option_path_finds_a_nested_option_by_name_and_value():
    options = {"reward": {"buffer_nm": 1.0}, "traffic": [{"weight": 3}, {"weight": 1, "cluster_size": [2, 3]}]}
    assert option_path(options, "buffer_nm", 1.0) == ".reward.buffer_nm"
    assert option_path(options, "buffer_nm", -1) is None, "the error is about another value (a default, say)"
    assert option_path(options, "weight", 1) == ".traffic[1].weight"
    assert option_path(options, "cluster_size", (2, 3)) == ".traffic[1].cluster_size"
    assert option_path(options, "weight", 7) is None, "no place holds that value"
    assert option_path({"a": {"x": 1}, "b": {"x": 1}}, "x", 1) is None, "two places hold it: ambiguous"
    assert option_path(options, "seed", 0) is None


def test_scenario_option_on_a_named_scenario_points_to_atc_file():
    with pytest.raises(EnvError, match=r"env option scenario='my.json': the scenario is part of the env id "
                                       r"'atc/head_on'; to load a scenario file use env id 'atc/file' with the "
                                       r"option file=<path>"):
        make_vec_env("atc/head_on", 2, scenario="my.json")


def test_atc_file_needs_a_file():
    with pytest.raises(ConfigError, match=r"file=None: is required for scenario 'file'"):
        make_vec_env("atc/file", 2)
    with pytest.raises(ConfigError, match=r"file='x.json': only applies to scenario 'file'"):
        make_env("atc/head_on", file="x.json")


def test_scenarios_of_an_unknown_family(capsys):
    with pytest.raises(EnvError, match=r"env family 'nofamily' is unknown: valid families are \['atc'"):
        list_envs("nofamily")
    assert main(["scenarios", "nofamily"]) == 2
    assert "env family 'nofamily' is unknown" in capsys.readouterr().err
    assert main(["scenarios", "atc"]) == 0
    assert "atc/file  (your own scenario file: env.kwargs.file=<path>)" in capsys.readouterr().out
    with pytest.raises(EnvError, match=r"unknown scenario 'nope' .*, or 'file' with the option file=<path>"):
        make_env("atc/nope")


SCENARIO = {"aircraft": [{"id": "A1", "start": [0, -20], "waypoint": [0, 20]},
                         {"id": "A2", "start": [-20, 0], "waypoint": [20, 0]}]}


def _scenario_file(tmp_path, data=None, text=None, name="scenario.json") -> Path:
    path = tmp_path / name
    if text is not None:
        path.write_bytes(text)
    else:
        path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change,message", [
    ({"sectors": 5}, r"sectors=5: must be a list of polygons"),
    ({"aircraft": [{"id": "A1", "start": [1e308, 0], "waypoint": [0, 20]}]},
     r"aircraft\[0\].start=\[1e\+308, 0\]: each coordinate must lie within \+-1000 NM of the centre"),
    ({"aircraft": [{"id": "A1", "start": [0, float("nan")], "waypoint": [0, 20]}]},
     r"aircraft\[0\].start\[1\]=nan: must be a finite number"),
    ({"centre": {"lat": 95, "lon": 4}}, r"centre=\[95, 4\]: must be \[lat, lon\] with lat in \[-90, 90\]"),
    ({"aircraft": [{"id": "A1", "start": [0, 0], "waypoint": [0, 20], "cas_kt": 5000}]},
     r"aircraft\[0\].cas_kt=5000.0: must be in \(0, 1000\] kt"),
    ({"aircraft": [{"id": "A1", "start": "0,0", "waypoint": [0, 20]}]},
     r"aircraft\[0\].start='0,0': must be a list of two numbers"),
])
def test_bad_scenario_file_lists_the_problem(tmp_path, change, message):
    path = _scenario_file(tmp_path, {**SCENARIO, **change})
    with pytest.raises(EnvError, match=rf"scenario {path} is invalid:\n  - {message}"):
        load_scenario(path)


def test_scenario_file_that_is_not_utf8_or_not_a_mapping_or_missing(tmp_path):
    latin = _scenario_file(tmp_path, text='{"name": "caf\xe9"}'.encode("latin-1"), name="latin.json")
    with pytest.raises(EnvError, match=r"latin.json': is not UTF-8 text \(byte 13: invalid continuation byte\)"):
        make_vec_env("atc/file", 2, file=str(latin))
    listed = _scenario_file(tmp_path, [1, 2], name="list.json")
    with pytest.raises(EnvError, match=r"list.json: must be a mapping with an 'aircraft' list, got list"):
        load_scenario(listed)
    with pytest.raises(EnvError, match=r"scenario file '.*missing.yaml': does not exist"):
        make_vec_env("atc/file", 2, file=str(tmp_path / "missing.yaml"))


def test_custom_atc_scenario_file_trains_from_the_cli(tmp_path):
    """env id atc/file + env.kwargs.file: a user's scenario from a YAML experiment (the probe's 'multiple
    values for scenario' crash), through training, evaluation and the report."""
    scenario = _scenario_file(tmp_path, SCENARIO, name="crossing.json")
    config = tmp_path / "atc_custom.yaml"
    config.write_text(yaml.safe_dump(tiny(env={"id": "atc/file", "kwargs": {"file": str(scenario)}},
                                          training={"eval_steps": 5}, output={"root": str(tmp_path)})))
    assert main(["train", str(config), "--quiet"]) == 0
    run_dir = tmp_path / "atc_custom"
    assert read_manifest(latest_complete_generation(run_dir))["signature"]["agent_ids"] == ["A1", "A2"]
    assert main(["evaluate", str(run_dir), "--episodes", "2", "--best"]) == 0


# ------------------------------------------------------------------------------------------- Python API
def test_population_built_for_another_env_is_refused(tmp_path):
    env, pop, memory, _ = make_tiny_population("MATD3", pop_size=2, num_envs=2)
    three = make_vec_env("tiny/coop_box", 2, num_agents=3)
    with pytest.raises(ConfigError, match=r"env.agents=\['agent_0', 'agent_1', 'agent_2'\]: must be the "
                                          r"population's agent ids \['agent_0', 'agent_1'\] \(built for another"):
        train_multi_agent_off_policy(three, "tiny", "MATD3", pop, memory, max_steps=20, evo_steps=20,
                                     run_dir=tmp_path / "run", verbose=False)
    discrete = make_vec_env("tiny/coop_discrete", 2)
    with pytest.raises(ConfigError, match=r"env.single_observation_space\('agent_0'\)=Box.*must equal the "
                                          r"population's observation space"):
        train_multi_agent_off_policy(discrete, "tiny", "MATD3", pop, memory, max_steps=20, evo_steps=20,
                                     run_dir=tmp_path / "run", verbose=False)
    assert not (tmp_path / "run").exists(), "nothing is written before the checks pass"


def test_operators_that_do_not_fit_the_population(tmp_path):
    with pytest.raises(ConfigError, match=r"tournament_size=5: must be <= population_size \(3\)"):
        TournamentSelection(5, True, 3)
    env, pop, memory, _ = make_tiny_population("MATD3", pop_size=2, num_envs=2)
    settings = RunSettings("tiny", max_steps=20, evo_steps=20, run_dir=tmp_path / "run", verbose=False)
    with pytest.raises(ConfigError, match=r"selection.population_size=3: must equal the population's size \(2\)"):
        train_population(env, pop, settings, memory=memory, selection=TournamentSelection(2, True, 3))


@pytest.mark.parametrize("kwargs,message", [
    ({"resume": True, "overwrite": True}, r"resume=True: cannot be combined with overwrite"),
    ({"keep_checkpoints": 0}, r"keep_checkpoints=0: must be an integer >= 1"),
    ({"evo_steps": 200, "max_steps": 100}, r"evo_steps=200: must be <= max_steps \(100\)"),
])
def test_bad_run_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RunSettings("tiny", **kwargs)


def test_search_ranges_outside_the_valid_range_or_the_buffer(tmp_path):
    with pytest.raises(ConfigError, match=r"hp_config.batch_size.min=0: must be a finite number in \[1, "):
        create_population("MATD3", [BOX], [BOX], None, {"AGENT_IDS": ["a"]},
                          hp_config=HyperparameterConfig(batch_size=RLParameter(0, 64, dtype=int)))
    env, pop, memory, _ = make_tiny_population("MATD3", pop_size=2, num_envs=2)
    small = type(memory)(256, memory.field_names, agent_ids=env.agents)
    with pytest.raises(ConfigError, match=r"hp_config.batch_size.max=512: must be <= memory.memory_size \(256\)"):
        train_multi_agent_off_policy(env, "tiny", "MATD3", pop, small, max_steps=20, evo_steps=20,
                                     run_dir=tmp_path / "run", verbose=False)


# ------------------------------------------------------------------------------------------- run folders
def _train(run_dir, resume=False, overwrite=False, max_steps=40, **kwargs):
    env, pop, memory, _ = make_tiny_population("MATD3", pop_size=2, num_envs=2)
    return train_multi_agent_off_policy(env, "tiny", "MATD3", pop, memory, max_steps=max_steps, evo_steps=20,
                                        run_dir=run_dir, resume=resume, overwrite_checkpoints=overwrite,
                                        verbose=False, seed=0, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run of 3 generations (checkpoints rotated: the newest 2 kept) for the checkpoint cases."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    _, history = _train(run_dir, max_steps=60, keep_checkpoints=2)
    return run_dir, history


def _copy(trained, tmp_path) -> Path:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    return run_dir


def test_rerun_of_an_existing_name_changes_nothing(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(tiny(output={"root": str(tmp_path)})))
    assert main(["train", str(config), "--quiet"]) == 0
    run_dir = tmp_path / "exp"
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    other = tmp_path / "other.yaml"  # the same name, another env: refused before anything is written
    other.write_text(yaml.safe_dump(tiny(name="exp", env={"id": "tiny/coop_discrete"},
                                         output={"root": str(tmp_path)})))
    assert main(["train", str(other), "--quiet"]) == 2
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    assert load_config(run_dir / "config.yaml").env.id == "tiny/coop_box"


def test_resume_and_overwrite_exclude_each_other_on_the_cli(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--resume", "--overwrite"])
    assert "not allowed with argument --resume" in capsys.readouterr().err


def test_without_checkpoints_metrics_are_never_replaced(tmp_path):
    config = tmp_path / "nock.yaml"
    config.write_text(yaml.safe_dump(tiny(output={"root": str(tmp_path), "checkpoint": False})))
    assert main(["train", str(config), "--quiet"]) == 0
    metrics = (tmp_path / "nock" / "metrics.csv").read_bytes()
    assert main(["train", str(config), "--quiet"]) == 2
    with pytest.raises(ConfigError, match=r"resume=True: .*nock holds metrics.csv but no checkpoint, and this run "
                                          r"writes none \(output.checkpoint false\)"):
        run_experiment(load_config(config), resume=True, verbose=False)
    assert (tmp_path / "nock" / "metrics.csv").read_bytes() == metrics
    assert not (tmp_path / "nock" / BEST_DIR).exists() and not generation_dirs(tmp_path / "nock")


def test_overwrite_replaces_the_old_run_whole(tmp_path):
    _train(tmp_path / "run", max_steps=60)
    _, history = _train(tmp_path / "run", overwrite=True)
    assert [p.name for p in generation_dirs(tmp_path / "run")] == ["generation_00001", "generation_00002"]
    rows = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()
    assert len(history) == 2 and len(rows) == 1 + 2 * 2


# ------------------------------------------------------------------------------------------- checkpoints
def test_best_member_is_kept_and_usable(trained, tmp_path, capsys):
    run_dir, history = trained
    assert [p.name for p in generation_dirs(run_dir)] == ["generation_00002", "generation_00003"]
    best = read_manifest(run_dir / BEST_DIR)["best"]
    finite = [(f, g + 1) for g, row in enumerate(history) for f in row if math.isfinite(f)]
    assert best["fitness"] == max(finite)[0] and best["generation"] == max(finite, key=lambda x: x[0])[1]
    member = load_population(run_dir, best=True)[0]
    assert member.index == best["index"] and member.fitness[-1] == best["fitness"]
    run_copy = _copy(trained, tmp_path)
    (run_copy / "config.yaml").write_text(yaml.safe_dump(tiny()))
    assert main(["evaluate", str(run_copy), "--episodes", "2", "--best"]) == 0
    assert json.loads((run_copy / "evaluation.json").read_text())["generation"] == BEST_DIR
    from evo_marl.tracking.report import build_report

    assert f"kept as evaluated in [`{BEST_DIR}/`]" in build_report(run_copy)


def test_newest_incomplete_generation_is_skipped_with_a_warning(trained, tmp_path, caplog):
    run_dir = _copy(trained, tmp_path)
    (run_dir / "generation_00003" / "manifest.json").unlink()
    with caplog.at_level(logging.WARNING):
        assert load_population(run_dir)[0].steps[-1] == 40  # generation 2's members
    assert "skipping incomplete generation folder" in caplog.text and "generation_00003" in caplog.text
    _, history = _train(run_dir, resume=True, max_steps=60)  # resume redoes generation 3 from generation 2
    assert len(history) == 3 and latest_complete_generation(run_dir).name == "generation_00003"


@pytest.mark.parametrize("damage,error,message", [
    (lambda g: (g / "manifest.json").write_text("[]"), CheckpointError, r"manifest.json: must hold a JSON object, "
                                                                        r"found list"),
    (lambda g: (g / "manifest.json").write_text(json.dumps({**json.loads((g / "manifest.json").read_text()),
                                                            "format_version": 1})),
     CheckpointError, r"format_version=1, expected 2 \(written by another evo-marl version\)"),
    (lambda g: (g / "member_1.pt").unlink(), CheckpointError, r"member files \['member_1.pt'\] listed in "
                                                              r"manifest.json are missing"),
    (lambda g: torch.save({"algo": "MATD3", "agent_ids": ["agent_0"]}, g / "member_0.pt"), CheckpointError,
     r"member_0.pt: cannot rebuild the member \(missing key 'observation_spaces'\)"),
    (lambda g: (g / "member_0.pt").write_bytes(b"\x80\x04\x95 not torch"), CheckpointError,
     r"member_0.pt: unreadable or not a weights-only checkpoint"),
])
def test_damaged_generation_folder_is_named(trained, tmp_path, damage, error, message):
    run_dir = _copy(trained, tmp_path)
    damage(run_dir / "generation_00003")
    with pytest.raises(error, match=message):
        load_population(run_dir / "generation_00003")


def test_best_and_evaluate_on_folders_without_them(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty: no complete generation_<g> checkpoint folder found"):
        load_population(tmp_path / "empty")
    with pytest.raises(CheckpointError, match=r"empty: holds no best/ checkpoint"):
        load_population(tmp_path / "empty", best=True)
    with pytest.raises(ConfigError, match=r"episodes=0: must be an integer >= 1"):
        evaluate_run(tmp_path / "empty", episodes=0)


# ------------------------------------------------------------------------------------------- failing envs
def _raising_population(fail_flags, tmp_path, max_steps=40):
    from evo_marl import MultiAgentReplayBuffer
    from evo_marl.envs.vector import SyncParallelVecEnv

    flags = iter(fail_flags)
    env = SyncParallelVecEnv(lambda: RaisingEnv(next(flags, False)), 4)
    pop = create_population("MATD3", [env.single_observation_space("a")], [env.single_action_space("a")],
                            {"hidden_size": [16]}, {"AGENT_IDS": ["a"], "BATCH_SIZE": 16}, population_size=2,
                            num_envs=2, seed=0, hp_config=HyperparameterConfig(lr_actor=RLParameter(1e-4, 1e-2)))
    memory = MultiAgentReplayBuffer(1000, ["obs", "action", "reward", "next_obs", "termination"], ["a"])
    return train_multi_agent_off_policy(env, "raising", "MATD3", pop, memory, max_steps=max_steps, evo_steps=20,
                                        eval_steps=10, run_dir=tmp_path / "run", verbose=False, seed=0)


def test_env_step_that_raises_ranks_its_member_last(tmp_path, caplog):
    # sub-envs 0-1 are member 0's and raise in their 2nd step; member 1's are fine (evaluation envs too)
    _, history = _raising_population([True, True, False, False], tmp_path)
    assert len(history) == 2, "the run goes on"
    assert math.isnan(history[0][0]) and math.isfinite(history[0][1])
    assert "its env raised ValueError: custom env bug; that sub-env was reset" in caplog.text


def test_env_that_always_raises_fails_every_member_but_ends(tmp_path, caplog):
    _, history = _raising_population([True] * 100, tmp_path)
    assert len(history) == 2 and all(math.isnan(f) for row in history for f in row)
    assert "the env raised during the episode (ValueError: custom env bug)" in caplog.text
    assert "every member failed" in caplog.text


def test_report_of_a_killed_run_skips_its_torn_row(trained, tmp_path, caplog):
    from evo_marl.tracking.report import build_report

    run_dir = _copy(trained, tmp_path)
    with open(run_dir / "metrics.csv", "a") as f:
        f.write("4,7,3,None,-1.5")  # a kill in the middle of an append
    with caplog.at_level(logging.WARNING):
        assert "## Best member" in build_report(run_dir)
    assert "skipped 1 incomplete row(s)" in caplog.text
