"""YAML configs (typed, with named errors) and the evo-marl CLI end to end on the tiny env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evo_marl import ConfigError
from evo_marl.cli import main
from evo_marl.config import default_config, load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    config = load_config(path)
    assert config.name == path.stem and config.env.id.count("/") == 1


def test_default_config_is_atc():
    assert default_config().env.id.startswith("atc/")


def test_default_config_is_the_shipped_head_on_config():
    """`evo-marl train` with no config and `evo-marl train atc_head_on_matd3` run the same experiment."""
    assert default_config().to_dict() == load_config(ROOT / "configs" / "atc_head_on_matd3.yaml").to_dict()


@pytest.mark.parametrize("data,message", [
    ({"env": {"id": "tiny/coop_box"}, "trainig": {}}, r"trainig=\{\}: unknown field; did you mean 'training'\?"),
    ({"env": {"id": "tiny/coop_box", "num_envs": "8"}}, r"env.num_envs='8': must be an integer"),
    ({"training": {"learning_delay": -5}}, r"training.learning_delay=-5: must be an integer >= 0"),
    ({"algo": "DQN"}, r"algo='DQN': unknown algorithm; valid algorithms are \['IPPO', 'MADDPG', 'MATD3'\]"),
    ({"training": {"eval_loop": 0}}, r"training.eval_loop=0: must be an integer >= 1"),
    ({"mutation": {"rl_hp": -1.0}}, r"mutation.rl_hp=-1.0: must be >= 0"),
])
def test_invalid_configs_name_field_value_and_rule(data, message):
    with pytest.raises(ConfigError, match=message):
        load_config(data)


def test_override_parses_yaml_values():
    config = load_config({"env": {"id": "tiny/coop_box"}}, ["training.max_steps=12345", "tracking.wandb=true"])
    assert config.training.max_steps == 12345 and config.tracking.wandb is True
    with pytest.raises(ConfigError, match="must look like key.subkey=value"):
        load_config({}, ["training.max_steps"])


def test_cli_train_evaluate_and_errors(tmp_path, capsys):
    cfg = tmp_path / "quick.yaml"
    cfg.write_text(yaml.safe_dump({
        "algo": "MADDPG", "population_size": 2, "env": {"id": "tiny/coop_box", "num_envs": 4},
        "net_config": {"hidden_size": [16]}, "init_hp": {"BATCH_SIZE": 32, "LEARN_STEP": 8},
        "training": {"max_steps": 200, "evo_steps": 100, "learning_delay": 32, "eval_loop": 2},
        "output": {"root": str(tmp_path), "plots": False}}))
    assert main(["train", str(cfg), "--quiet"]) == 0
    run_dir = tmp_path / "quick"
    assert (run_dir / "config.yaml").exists() and (run_dir / "metrics.csv").exists()
    assert len(list(run_dir.glob("generation_*"))) == 2
    assert main(["train", str(cfg), "--quiet"]) == 2, "an existing run is never overwritten silently"
    assert "already holds a run" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--episodes", "3", "--all"]) == 0
    results = json.loads((run_dir / "evaluation.json").read_text())
    assert len(results["members"]) == 2 and results["episodes"] == 3
    assert main(["train", str(cfg), "--set", "training.max_steps=oops", "--quiet"]) == 2
    assert "training.max_steps='oops': must be an integer" in capsys.readouterr().err


def test_cli_config_name_not_found_suggests_a_shipped_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "atc_ippo.yaml").write_text("algo: IPPO\nenv: {id: atc/head_on}\n")
    assert main(["config", "atc_ipo"]) == 2
    assert "config='atc_ipo': file not found (did you mean atc_ippo?)" in capsys.readouterr().err
    assert main(["config", "zzz"]) == 2
    assert "config='zzz': file not found (see `ls configs` for the shipped ones)" in capsys.readouterr().err
    assert main(["config", "atc_ippo"]) == 0 and "algo: IPPO" in capsys.readouterr().out


def test_cli_scenarios_lists_builtin_families(capsys):
    assert main(["scenarios", "tiny"]) == 0
    assert "tiny/coop_box" in capsys.readouterr().out


def _write_configs(folder: Path, **files: str) -> None:
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)


def test_extends_merges_the_base_config_under_the_file(tmp_path):
    _write_configs(tmp_path, base="algo: MATD3\npopulation_size: 6\nenv: {id: atc/head_on, num_envs: 4}\n"
                                  "net_config: {hidden_size: [64, 64]}\ntraining: {max_steps: 9000, evo_steps: 3000}\n",
                   mid="extends: base\nenv: {id: atc/parallel}\nnet_config: {hidden_size: [32]}\n",
                   top="extends: mid.yaml\ntraining: {max_steps: 6000}\n")
    config = load_config(tmp_path / "top.yaml")
    assert config.name == "top" and config.population_size == 6
    assert (config.env.id, config.env.num_envs) == ("atc/parallel", 4)         # mappings merge key by key
    assert config.net_config["hidden_size"] == [32]                            # lists are replaced
    assert (config.training.max_steps, config.training.evo_steps) == (6000, 3000)


def test_extends_with_another_algorithm_starts_its_hyperparameters_afresh(tmp_path):
    _write_configs(tmp_path, ippo="algo: IPPO\npopulation_size: 6\nenv: {id: atc/head_on}\n"
                                  "init_hp: {LR: 0.001, UPDATE_EPOCHS: 4}\nhp_ranges: {lr: {min: 0.0001, max: 0.01}}\n",
                   matd3="extends: ippo.yaml\nalgo: matd3\ninit_hp: {LR_ACTOR: 0.0002}\n",
                   ippo_too="extends: ippo.yaml\nalgo: ippo\ninit_hp: {LR: 0.002}\n")
    derived = load_config(tmp_path / "matd3.yaml")
    assert (derived.algo, derived.population_size, derived.env.id) == ("MATD3", 6, "atc/head_on")
    assert derived.init_hp == {"LR_ACTOR": 0.0002} and derived.hp_ranges is None    # IPPO's LR is not inherited
    same = load_config(tmp_path / "ippo_too.yaml")                                   # same algorithm, alias spelling
    assert same.init_hp == {"LR": 0.002, "UPDATE_EPOCHS": 4} and same.hp_ranges == {"lr": {"min": 0.0001, "max": 0.01}}


def test_generalist_matd3_config_is_the_ippo_generalists_traffic():
    matd3 = load_config(ROOT / "configs" / "atc_generalist_matd3.yaml")
    ippo = load_config(ROOT / "configs" / "atc_generalist_ippo.yaml")
    assert matd3.algo == "MATD3" and matd3.env == ippo.env and matd3.population_size == ippo.population_size
    assert "LR" not in matd3.init_hp and matd3.init_hp["LR_ACTOR"] == 0.0002


def test_scenario_aliases_equal_the_recipe_with_the_env_set():
    for scenario in ("canonical_crossing", "converging", "parallel", "t_formation"):
        alias = load_config(ROOT / "configs" / f"atc_{scenario}_matd3.yaml").to_dict()
        recipe = load_config(ROOT / "configs" / "atc_matd3.yaml", [f"env.id=atc/{scenario}"]).to_dict()
        assert {k: v for k, v in alias.items() if k != "name"} == {k: v for k, v in recipe.items() if k != "name"}


@pytest.mark.parametrize("text, message", [
    ("extends: missing.yaml\n", "file not found"),
    ("extends: [a, b]\n", "must name a config file"),
    ("extends: loop.yaml\n", "cycle"),
])
def test_extends_errors_name_the_field(tmp_path, text, message):
    (tmp_path / "loop.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(tmp_path / "loop.yaml")
    assert "extends" in str(err.value)
