"""The ``engine`` setting in configs, the CLI and the train functions (no AgileRL needed here; the AgileRL
engine itself is tested in tests/test_agilerl_engine.py, run by benchmarks/peer/test_agilerl.sh)."""

from __future__ import annotations

import importlib.util

import pytest

from evo_marl.config import default_config, load_config
from evo_marl.errors import ConfigError
from evo_marl.experiment import run_experiment

HAS_AGILERL = importlib.util.find_spec("agilerl") is not None
TINY = {"env": {"id": "tiny/coop_box", "num_envs": 2}}


def test_engine_defaults_to_evo_marl_and_is_normalised():
    assert default_config().engine == "evo-marl"
    assert load_config({**TINY, "engine": "AgileRL"}).engine == "agilerl"
    assert load_config({**TINY, "engine": "evo_marl"}).engine == "evo-marl"
    assert "engine: evo-marl" in default_config().to_yaml()


@pytest.mark.parametrize("bad", ["rllib", "", 3])
def test_unknown_engine_names_the_field(bad):
    with pytest.raises(ConfigError) as err:
        load_config({**TINY, "engine": bad})
    assert err.value.field == "engine"


def test_cli_engine_flag_reaches_the_config():
    from evo_marl.cli import _resolve_config

    assert _resolve_config(None, ["engine=agilerl"]).engine == "agilerl"


@pytest.mark.skipif(HAS_AGILERL, reason="AgileRL is installed here")
def test_agilerl_engine_without_agilerl_says_how_to_install_and_writes_nothing(tmp_path):
    config = load_config({**TINY, "name": "x", "output": {"root": str(tmp_path)}})
    with pytest.raises(ConfigError) as err:
        run_experiment(config, engine="agilerl")
    assert "evo-marl[agilerl]" in err.value.rule and "pettingzoo<1.27" in err.value.rule
    assert not (tmp_path / "x").exists()


def test_train_functions_reject_an_unknown_engine(tiny_population):
    from evo_marl import train_multi_agent_off_policy, train_multi_agent_on_policy

    env, pop, memory, hp = tiny_population("MADDPG")
    with pytest.raises(ConfigError, match="engine"):
        train_multi_agent_off_policy(env, "tiny", "MADDPG", pop, memory, INIT_HP=hp, engine="nope")
    env, pop, _, hp = tiny_population("IPPO", BATCH_SIZE=16, LEARN_STEP=32)
    with pytest.raises(ConfigError, match="engine"):
        train_multi_agent_on_policy(env, "tiny", "IPPO", pop, INIT_HP=hp, engine="nope")


def test_evaluate_points_an_agilerl_run_to_its_own_checkpoints(tmp_path):
    from evo_marl.errors import CheckpointError
    from evo_marl.evaluate_run import evaluate_run

    (tmp_path / "agilerl").mkdir()
    with pytest.raises(CheckpointError, match="engine agilerl"):
        evaluate_run(tmp_path)
    (tmp_path / "agilerl").rmdir()
    with pytest.raises(CheckpointError) as err:
        evaluate_run(tmp_path)
    assert "agilerl" not in str(err.value)


@pytest.mark.parametrize("field, settings", [
    ("training.fitness_window", {"fitness_window": 2}), ("training.fitness_metric", {"fitness_metric": "clean"}),
    ("training.eval_set", {"eval_set": "fixed"}), ("resume", {"resume": True}),
    ("training.precision", {"precision": "bfloat16"})])
def test_agilerl_engine_refuses_what_its_trainer_cannot_do(field, settings):
    from evo_marl.engines.agilerl import check_settings
    from evo_marl.training.settings import RunSettings

    with pytest.raises(ConfigError) as err:
        check_settings(RunSettings(env_name="x", **settings))
    assert err.value.field == field
