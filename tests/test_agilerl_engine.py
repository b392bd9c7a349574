"""``engine: agilerl``: AgileRL 2.58's own trainer on evo-marl's envs, writing evo-marl's run folder.

Skipped where AgileRL is not installed (the project's venv has pettingzoo>=1.27, which AgileRL 2.58 refuses);
``bash benchmarks/peer/test_agilerl.sh`` runs this file inside the AgileRL venv.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

agilerl = pytest.importorskip("agilerl")

from evo_marl.config import load_config  # noqa: E402
from evo_marl.engines import agilerl as engine  # noqa: E402
from evo_marl.engines.agilerl_config import (  # noqa: E402
    agilerl_hp_config, agilerl_net_config, algo_kwargs, unused_settings)
from evo_marl.errors import ConfigError, SpaceError  # noqa: E402
from evo_marl.experiment import run_experiment  # noqa: E402
from evo_marl.tracking.report import build_report  # noqa: E402
from evo_marl.tracking.run_data import MUTATION_KINDS, load_run  # noqa: E402


def small(tmp_path, name="run", **over):
    data = {"name": name, "seed": 0, "algo": "MATD3", "population_size": 3, "engine": "agilerl",
            "env": {"id": "atc/head_on", "num_envs": 2},
            "init_hp": {"BATCH_SIZE": 16, "LEARN_STEP": 4, "HUBER_DELTA": 0.3},
            "mutation": {"no_mutation": 0.1, "architecture": 0.4, "parameters": 0.2, "rl_hp": 0.3},
            "training": {"max_steps": 300, "evo_steps": 100, "learning_delay": 20, "eval_loop": 1},
            "output": {"root": str(tmp_path)}}
    for key, value in over.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    for section in ("init_hp", "training"):  # None removes a key
        data[section] = {k: v for k, v in data[section].items() if v is not None}
    return load_config(data)


@pytest.fixture(scope="module")
def matd3_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("agilerl")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("evo_marl").addHandler(handler)
    try:
        pop, history, run_dir = run_experiment(small(root), verbose=False)
    finally:
        logging.getLogger("evo_marl").removeHandler(handler)
    return pop, history, run_dir, [r.getMessage() for r in records]


def test_run_folder_matches_evo_marls(matd3_run):
    pop, history, run_dir, _ = matd3_run
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "metrics.csv", "generations.csv", "fitness.png", "hyperparameters.png",
            "family_tree.png", "agilerl"} <= names
    assert "engine: agilerl" in (run_dir / "config.yaml").read_text()
    data = load_run(run_dir)
    assert data.generation_numbers == [1, 2, 3]
    assert [[m.fitness for m in ms] for _, ms in sorted(data.by_generation().items())] == history
    assert [g["train/total_steps"] for g in data.generations] == [300.0, 600.0, 900.0]
    assert all(math.isfinite(g["train/transitions_per_second"]) for g in data.generations)
    # the final population is the last evaluated one (AgileRL's post-budget selection is not applied)
    assert sorted(a.index for a in pop) == sorted(m.index for m in data.by_generation()[3])
    assert all(type(a).__name__ == "MATD3" and a.steps == 300 for a in pop)


def test_lineage_mutations_and_hyperparameters_are_recorded(matd3_run):
    _, _, run_dir, _ = matd3_run
    data = load_run(run_dir)
    gens = data.by_generation()
    assert all(m.parent is None and m.steps == 100 for m in gens[1])
    kinds = set()
    for g in (2, 3):
        previous = {m.index: m for m in gens[g - 1]}
        best = max(gens[g - 1], key=lambda m: m.fitness)
        elites = [m for m in gens[g] if m.kind == "elite"]
        assert [e.index for e in elites] == [best.index]  # elitism keeps the best unchanged
        for m in gens[g]:
            parent = previous[m.parent]
            assert m.steps == parent.steps + 100
            kinds.add(m.kind)
            if m.kind == "rl_hp":
                name, change = m.mutation.split(":")
                old, new = (float(v) for v in change.split("->"))
                assert new == pytest.approx(m.hyperparameters[name], rel=1e-3)
                assert old == pytest.approx(parent.hyperparameters[name], rel=1e-3)
            if m.kind in ("elite", "none", "rl_hp", "parameters"):
                assert m.architecture == parent.architecture
            if m.kind == "architecture":
                assert m.architecture != parent.architecture or m.parameter_count != parent.parameter_count
    assert kinds <= set(MUTATION_KINDS) and "elite" in kinds
    first = gens[1][0]
    assert first.architecture["actors/A1"] == [64, 64, 64]  # hidden [64, 64]: encoder [64], latent 64, head [64]
    assert first.hyperparameters["O_U_noise"] is False  # evo-marl's default, not AgileRL's
    assert first.hyperparameters["policy_freq"] == 2 and first.hyperparameters["batch_size"] == 16


def test_report_and_agilerl_checkpoint(matd3_run):
    pop, _, run_dir, messages = matd3_run
    report = build_report(run_dir)
    assert "| Engine | agilerl" in report and "MATD3 on `atc/head_on`" in report
    assert any("init_hp huber_delta: no AgileRL counterpart" in m for m in messages)
    from agilerl.algorithms import MATD3

    loaded = MATD3.load(str(run_dir / "agilerl" / "member_0.pt"))
    loaded.set_training_mode(False)
    obs = {a: np.zeros((2, 18), dtype=np.float32) for a in ("A1", "A2")}  # one row per env (num_envs 2)
    action, _ = loaded.get_action(obs)
    assert set(action) == {"A1", "A2"} and np.asarray(action["A1"]).shape == (2, 2)
    assert np.all(np.abs(np.asarray(action["A1"])) <= 1)


def test_same_seed_same_run_and_global_rngs_restored(tmp_path, matd3_run):
    state = np.random.get_state()[1].copy()
    _, history, run_dir = run_experiment(small(tmp_path, name="again"), verbose=False)
    assert (np.random.get_state()[1] == state).all()
    assert history == matd3_run[1]
    _, other, _ = run_experiment(small(tmp_path, name="seed1", seed=1), verbose=False)
    assert other != history


def test_ippo_on_its_own_rollouts(tmp_path):
    config = small(tmp_path, algo="IPPO", init_hp={"LEARN_STEP": 32, "BATCH_SIZE": 16, "HUBER_DELTA": None},
                   training={"max_steps": 100, "evo_steps": 100, "learning_delay": None}, population_size=2)
    _, history, run_dir = run_experiment(config, verbose=False)
    members = load_run(run_dir).members
    assert all(m.hyperparameters["learn_step"] == 32 and m.hyperparameters["batch_size"] == 16 for m in members)
    assert all(m.steps == 128 for m in members)  # 4 rollouts of 32 transitions cover 100
    assert len(history) == 1


def test_target_stops_after_the_first_generation(tmp_path):
    pop, history, run_dir = run_experiment(small(tmp_path, training={"stopping": {"target": -1e9}}),
                                           verbose=False)
    assert len(history) == 1 and load_run(run_dir).generation_numbers == [1]
    assert all(a.steps == 100 for a in pop)


def test_train_function_engine_keyword(tmp_path):
    from evo_marl import train_multi_agent_off_policy
    from evo_marl.engines.agilerl_config import build_population

    env = engine.make_vec_env("atc/head_on", 2, seed=0)
    pop = build_population("MADDPG", env, {"hidden_size": [32, 32]}, {"BATCH_SIZE": 16}, population_size=2,
                           num_envs=2, seed=0)
    pop, history = train_multi_agent_off_policy(env, "atc/head_on", "MADDPG", pop, None, max_steps=100,
                                                evo_steps=100, learning_delay=20, run_dir=tmp_path / "api",
                                                verbose=False, seed=0, engine="agilerl")
    rows = load_run(tmp_path / "api").members
    assert len(history) == 1 and [m.fitness for m in rows] == history[0]
    assert (tmp_path / "api" / "agilerl" / "member_1.pt").exists()


def test_train_function_refuses_evo_marl_objects(tmp_path, tiny_population):
    from evo_marl import train_multi_agent_off_policy
    from evo_marl.engines.agilerl_config import build_population

    env, pop, memory, hp = tiny_population("MADDPG")
    with pytest.raises(ConfigError) as err:  # evo-marl members
        train_multi_agent_off_policy(env, "tiny", "MADDPG", pop, memory, run_dir=tmp_path, engine="agilerl")
    assert err.value.field == "pop"
    agilerl_pop = build_population("MADDPG", env, {"hidden_size": [16, 16]}, {}, population_size=2, num_envs=4)
    with pytest.raises(ConfigError) as err:  # evo-marl's batched env
        train_multi_agent_off_policy(env, "tiny", "MADDPG", agilerl_pop, None, run_dir=tmp_path, engine="agilerl")
    assert err.value.field == "env"


def test_refusals(tmp_path):
    with pytest.raises(ConfigError) as err:
        run_experiment(small(tmp_path), resume=True)
    assert err.value.field == "resume"
    with pytest.raises(ConfigError) as err:
        run_experiment(small(tmp_path, training={"stopping": {"criteria": {"conflict_free_streak": 3}}}))
    assert err.value.field == "training.stopping.criteria"
    with pytest.raises(ConfigError) as err:
        run_experiment(small(tmp_path, training={"fitness_window": 2}))
    assert err.value.field == "training.fitness_window"
    with pytest.raises(ConfigError) as err:
        run_experiment(small(tmp_path, training={"fitness_metric": "clean"}))
    assert err.value.field == "training.fitness_metric"
    assert not (tmp_path / "run").exists()  # refused before anything was written
    (tmp_path / "run" / "agilerl").mkdir(parents=True)
    with pytest.raises(ConfigError) as err:
        run_experiment(small(tmp_path))
    assert err.value.field == "run_dir"
    with pytest.raises(SpaceError, match="MultiDiscrete"):
        run_experiment(small(tmp_path, name="bb", algo="MADDPG", env={"id": "bucket_brigade/default"}))


def test_config_translation():
    from evo_marl.algorithms.registry import algorithm_settings

    hp, options = algorithm_settings("MATD3", {"LR_ACTOR": 1, "SHARE_PARAMS": True})
    kwargs = algo_kwargs("MATD3", hp, options, num_envs=4)
    assert kwargs["lr_actor"] == 1.0 and isinstance(kwargs["lr_actor"], float)
    assert kwargs["policy_freq"] == 2 and kwargs["O_U_noise"] is False and kwargs["vect_noise_dim"] == 4
    assert "share_params" not in kwargs and "huber_delta" not in kwargs
    assert unused_settings("MATD3", {"SHARE_PARAMS": True, "HUBER_DELTA": 1.0, "TAU": 0.1}) == [
        "huber_delta", "share_params"]
    hp, options = algorithm_settings("IPPO", {"LEARN_STEP": 512})
    ippo = algo_kwargs("IPPO", hp, options, num_envs=8)
    assert ippo["learn_step"] == 512 and ippo["batch_size"] == 64  # evo-marl's default minibatch

    flat = agilerl_net_config({"hidden_size": [32, 48, 16], "activation": "GELU"}, ["A1", "A2"])
    assert flat["encoder_config"] == {"activation": "GELU", "layer_norm": False, "hidden_size": [32, 48]}
    assert flat["latent_dim"] == 16 and flat["head_config"]["hidden_size"] == [16]
    agile = {"encoder_config": {"hidden_size": [8]}, "head_config": {"hidden_size": [8]}}
    assert agilerl_net_config(agile, ["A1"]) == agile
    per_agent = agilerl_net_config({"A1": {"hidden_size": [8, 8]}, "A2": {"hidden_size": [16, 16]}}, ["A1", "A2"])
    assert per_agent["A2"]["latent_dim"] == 16
    with pytest.raises(ConfigError):
        agilerl_net_config({"hidden_sizes": [8]}, ["A1"])

    from evo_marl.algorithms.registry import get_algorithm
    from evo_marl.hpo.parameters import HyperparameterConfig

    space = HyperparameterConfig.from_dict({"learn_step": {"min": 8, "max": 64, "dtype": "int"},
                                            "gamma": {"min": 0.9, "max": 0.99, "scale": "horizon"}})
    hp_config = agilerl_hp_config("IPPO", space, explicit=True)
    assert hp_config.names() == ["learn_step"] and (hp_config["learn_step"].min, hp_config["learn_step"].max) == (8, 64)
    default = agilerl_hp_config("MATD3", get_algorithm("MATD3").default_hp_config(), explicit=False)
    assert set(default.names()) == {"lr_actor", "lr_critic", "batch_size", "learn_step", "tau", "policy_freq"}


def test_sampled_initial_hyperparameters_match_evo_marls_engine(tmp_path):
    from evo_marl.engines.agilerl_config import build_population
    from evo_marl.envs import make_vec_env as evo_vec_env
    from evo_marl.experiment import build_population as evo_population

    config = small(tmp_path, hp_init="sampled", population_size=3)
    ours = evo_population(config, evo_vec_env("atc/head_on", num_envs=2))
    env = engine.make_vec_env("atc/head_on", 2, seed=0)
    try:
        theirs = build_population(config.algo, env, config.net_config, config.init_hp, config.search_space(), 3, 2,
                                  config.seed, "sampled")
    finally:
        env.close()
    for name in ("lr_actor", "lr_critic", "batch_size", "learn_step", "tau", "policy_freq"):
        assert [getattr(a, name) for a in theirs] == pytest.approx([getattr(m, name) for m in ours]), name
    assert len({a.lr_actor for a in theirs}) == 3  # drawn, not the same start


def test_no_selection_keeps_every_member(tmp_path):
    _, history, run_dir = run_experiment(small(tmp_path, population_size=2, selection={"strategy": "none"},
                                               training={"max_steps": 200}), verbose=False)
    rows = load_run(run_dir).by_generation()
    assert len(history) == 2
    assert [(m.index, m.parent, m.mutation) for m in rows[2]] == [(0, 0, "None"), (1, 1, "None")]
