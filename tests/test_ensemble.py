"""EnsemblePolicy: several members of a population act together (mean of continuous actions, vote of discrete)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from evo_marl import create_population, make_vec_env
from evo_marl.algorithms.ensemble import EnsemblePolicy, majority_vote, ranked_members
from evo_marl.algorithms.roles import RolePolicy
from evo_marl.cli import main
from evo_marl.config import load_config
from evo_marl.cross_evaluation import cross_evaluate
from evo_marl.errors import ConfigError
from evo_marl.experiment import run_experiment


def _population(algo: str, env_id: str, size: int = 3, **env_kwargs):
    env = make_vec_env(env_id, num_envs=5, seed=0, **env_kwargs)
    population = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                                   [env.single_action_space(a) for a in env.agents], {"hidden_size": [16]},
                                   {"AGENT_IDS": env.agents, "SHARE_PARAMS": True}, population_size=size,
                                   num_envs=5, seed=0)
    for member in population:
        member.set_training_mode(False)
    return population, env


def test_majority_vote_per_element_ties_to_the_first_member():
    votes = np.array([[0, 2, 1, 3],
                      [1, 2, 0, 3],
                      [1, 0, 2, 4]])
    np.testing.assert_array_equal(majority_vote(votes), [1, 2, 1, 3])  # column 2: three-way tie -> first member
    np.testing.assert_array_equal(majority_vote(votes[:1]), votes[0])


def test_continuous_actions_are_the_members_mean():
    population, env = _population("IPPO", "atc/random", num_aircraft=3)
    obs, infos = env.reset(seed=2)
    alone = [RolePolicy(m, env)(obs, infos) for m in population]
    together = EnsemblePolicy(population, env)(obs, infos)
    assert set(together) == set(env.agents)
    for agent in env.agents:
        np.testing.assert_allclose(together[agent], np.mean([a[agent] for a in alone], axis=0), atol=1e-6)
        assert together[agent].dtype == alone[0][agent].dtype
    assert not np.allclose(alone[0]["A1"], alone[1]["A1"])  # the members differ, so the mean is not one of them


@pytest.mark.parametrize("env_id", ["tiny/coop_discrete", "tiny/coop_multidiscrete"])
def test_discrete_actions_are_the_members_vote(env_id):
    population, env = _population("MADDPG", env_id, size=5)
    obs, infos = env.reset(seed=0)
    alone = [RolePolicy(m, env)(obs, infos) for m in population]
    together = EnsemblePolicy(population, env)(obs, infos)
    for agent in env.agents:
        stacked = np.stack([a[agent] for a in alone])
        assert together[agent].dtype == stacked.dtype
        np.testing.assert_array_equal(together[agent], majority_vote(stacked))
        counts = (stacked == together[agent][None]).sum(axis=0)
        assert np.all(counts >= (stacked[:, None] == stacked[None]).sum(axis=1).max(axis=0))  # no choice has more votes
    env.step(together)  # valid actions for the env


def test_one_member_acts_alone():
    population, env = _population("IPPO", "atc/random", num_aircraft=2)
    obs, infos = env.reset(seed=0)
    policy = EnsemblePolicy(population[:1], env)
    for agent, action in policy(obs, infos).items():
        np.testing.assert_array_equal(action, RolePolicy(population[0], env)(obs, infos)[agent])
    with pytest.raises(ConfigError, match="members"):
        EnsemblePolicy([], env)


def test_ranked_members_fittest_first():
    population, _ = _population("IPPO", "atc/random", size=4, num_aircraft=2)
    for member, fitness in zip(population, ([1.0, 5.0], [4.0], [], [8.0, 2.0])):
        member.fitness = list(fitness)
    assert [m.index for m in ranked_members(population)] == [0, 1, 3, 2]            # last evaluation; unevaluated last
    assert [m.index for m in ranked_members(population, window=2)] == [3, 1, 0, 2]  # mean of the last two
    assert [m.index for m in ranked_members(population, top=2)] == [0, 1]
    for bad in (0, 5, True, 1.5):
        with pytest.raises(ConfigError, match="top="):
            ranked_members(population, top=bad)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    config = load_config({
        "name": "ens", "algo": "IPPO", "population_size": 3, "seed": 0,
        "env": {"id": "atc/random", "num_envs": 4, "kwargs": {"num_aircraft": [2, 3]}},
        "net_config": {"hidden_size": [16]}, "init_hp": {"LEARN_STEP": 64, "BATCH_SIZE": 32, "SHARE_PARAMS": True},
        "training": {"max_steps": 128, "evo_steps": 64, "eval_loop": 2},
        "output": {"root": str(tmp_path_factory.mktemp("runs")), "plots": False}})
    run_experiment(config, verbose=False)
    return config.run_dir


def test_cross_evaluate_an_ensemble_of_a_run(run_dir):
    [together] = cross_evaluate(run_dir, ["atc/head_on"], episodes=2, seed=1, ensemble=True)
    assert together.member.startswith("ensemble of 3 (") and together.episodes == 2
    [two] = cross_evaluate(run_dir, ["atc/head_on"], episodes=2, seed=1, ensemble=2)
    [best] = cross_evaluate(run_dir, ["atc/head_on"], episodes=2, seed=1)
    assert two.member.startswith("ensemble of 2 (") and two.member.split("(")[1].startswith(f"{best.member},")
    [own] = cross_evaluate(run_dir, episodes=2, seed=1, ensemble=1)  # no env given: the run's own
    assert (own.env_id, own.member) == ("atc/random", best.member)
    with pytest.raises(ConfigError, match="does not combine with all_members"):
        cross_evaluate(run_dir, ["atc/head_on"], episodes=2, ensemble=True, all_members=True)
    with pytest.raises(ConfigError, match="ensemble=4"):
        cross_evaluate(run_dir, ["atc/head_on"], episodes=2, ensemble=4)
    population, _ = _population("IPPO", "atc/random", num_aircraft=2)
    with pytest.raises(ConfigError, match="env_ids"):
        cross_evaluate(population, episodes=2)


def test_cli_evaluates_an_ensemble(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--ensemble", "--episodes", "2"]) == 0
    rows = json.loads((run_dir / "cross_evaluation.json").read_text())
    assert [(r["env"], r["member"][:14]) for r in rows] == [("atc/random", "ensemble of 3 ")]
    assert main(["evaluate", str(run_dir), "--ensemble", "2", "--env", "atc/head_on", "--episodes", "2"]) == 0
    rows = json.loads((run_dir / "cross_evaluation.json").read_text())
    assert [(r["env"], r["member"][:14]) for r in rows] == [("atc/head_on", "ensemble of 2 ")]
    with pytest.raises(SystemExit):
        main(["evaluate", str(run_dir), "--ensemble", "--best"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_acting_greedily_turns_exploration_off_and_restores_each_mode():
    from evo_marl.envs.episodes import acting_greedily

    population, env = _population("IPPO", "atc/random", size=2, num_aircraft=2)
    population[0].set_training_mode(True)                     # one exploring, one not
    obs, infos = env.reset(seed=0)
    with pytest.raises(RuntimeError), acting_greedily(population):
        assert [m.training for m in population] == [False, False]
        first, second = RolePolicy(population[0], env)(obs, infos), RolePolicy(population[0], env)(obs, infos)
        np.testing.assert_array_equal(first["A1"], second["A1"])  # no exploration noise
        raise RuntimeError("an evaluation that fails")
    assert [m.training for m in population] == [True, False]


def _deploying(run_dir, tmp_path):
    """A copy of ``run_dir`` whose config says ``output.deploy: ensemble``."""
    deploying = tmp_path / "deploying"
    shutil.copytree(run_dir, deploying)
    config = yaml.safe_load((deploying / "config.yaml").read_text())
    config["output"]["deploy"] = "ensemble"
    (deploying / "config.yaml").write_text(yaml.safe_dump(config))
    return deploying


def test_a_run_that_deploys_an_ensemble_is_evaluated_as_one(run_dir, tmp_path, capsys):
    deploying = _deploying(run_dir, tmp_path)
    assert main(["evaluate", str(deploying), "--episodes", "2"]) == 0
    assert "output.deploy: ensemble" in capsys.readouterr().out
    rows = json.loads((deploying / "cross_evaluation.json").read_text())
    assert [(r["env"], r["member"][:14]) for r in rows] == [("atc/random", "ensemble of 3 ")]
    generation = sorted(deploying.glob("generation_*"))[-1]  # a checkpoint folder of the run: the same default
    assert main(["evaluate", str(generation), "--episodes", "2"]) == 0
    assert "output.deploy: ensemble" in capsys.readouterr().out
    assert main(["evaluate", str(deploying), "--best", "--episodes", "2"]) == 0  # a member named: that member
    assert "output.deploy" not in capsys.readouterr().out
    assert main(["evaluate", str(deploying / "best"), "--episodes", "2"]) == 0  # best/ holds one member
    assert "output.deploy" not in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--episodes", "2"]) == 0  # the default deployment: the best member
    assert "output.deploy" not in capsys.readouterr().out


def test_python_evaluation_and_analyses_follow_the_deployment(run_dir, tmp_path, capsys):
    from evo_marl.envs.atc.shift_report import analyse_run

    deploying = _deploying(run_dir, tmp_path)
    [together] = cross_evaluate(deploying, ["atc/head_on"], episodes=2, seed=1)
    [best] = cross_evaluate(run_dir, ["atc/head_on"], episodes=2, seed=1)  # deploys its best member
    assert together.member.startswith("ensemble of 3 (") and isinstance(best.member, int)
    [alone] = cross_evaluate(deploying, ["atc/head_on"], episodes=2, seed=1, ensemble=False)
    assert alone.member == best.member and alone.mean_return == best.mean_return
    members = [r.member for r in cross_evaluate(deploying, ["atc/head_on"], episodes=2, all_members=True)]
    assert len(members) == 3 and all(isinstance(m, int) for m in members)  # each member alone
    [ever] = cross_evaluate(deploying, ["atc/head_on"], episodes=2, best=True)  # best/ holds one member
    assert isinstance(ever.member, int)
    [generation] = cross_evaluate(sorted(deploying.glob("generation_*"))[-1], ["atc/head_on"], episodes=2, seed=1)
    assert generation.member == together.member
    with pytest.raises(ConfigError, match="does not combine with best"):
        cross_evaluate(deploying, ["atc/head_on"], episodes=2, ensemble=True, best=True)

    text, _ = analyse_run(deploying, scenarios=["head_on"])
    assert text.splitlines()[0].endswith(together.member)  # the shift tests of the members acting together
    text, _ = analyse_run(run_dir, scenarios=["head_on"])
    assert text.splitlines()[0].endswith(f"best member {best.member}")
    with pytest.raises(ConfigError, match="does not combine with best"):
        analyse_run(deploying, scenarios=["head_on"], ensemble=2, best=True)
    with pytest.raises(ConfigError, match="ensemble=4"):
        analyse_run(deploying, scenarios=["head_on"], ensemble=4)
    assert main(["analyse", str(deploying), "--shifts", "--scenarios", "head_on", "--ensemble", "1"]) == 0
    assert f"best member {best.member}" in capsys.readouterr().out
    assert main(["analyse", str(deploying), "--shifts", "--scenarios", "head_on", "--ensemble", "2"]) == 0
    assert "ensemble of 2 (" in capsys.readouterr().out


def test_the_report_names_an_ensemble_deployment(run_dir, tmp_path):
    from evo_marl.tracking.report import build_report

    deploying = _deploying(run_dir, tmp_path)
    assert f"| Deployment | the final population acting together (`output.deploy: ensemble`): `evo-marl evaluate " \
           f"{deploying}`" in build_report(deploying)
    assert "| Deployment |" not in build_report(run_dir)  # the best member: nothing to add


def test_deploy_must_name_a_known_deployment():
    with pytest.raises(ConfigError, match=r"output\.deploy.*'mean'.*\['best', 'ensemble'\]"):
        load_config({"algo": "IPPO", "env": {"id": "atc/head_on"}, "output": {"deploy": "mean"}})


def test_ensemble_benchmark_acts_with_snapshots_of_kept_generations(run_dir, tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_ensemble

    out = tmp_path / "ensemble.md"
    assert bench_ensemble.main([str(run_dir), "--counts", "2", "--episodes", "3", "--sizes", "1", "all", "g2",
                                "--reset-seed", "30000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "all: LoS risk" in printed and "ensemble of 3 (" in printed
    assert "g2: LoS risk" in printed and "ensemble of 6 (" in printed   # two kept generations of three members
    text = out.read_text()
    assert "| best member | every member | last 2 generations |" in text
    assert "Validation `atc/random` episodes (3 per aircraft count, reset seed 30000 + count)" in text
    for bad in ("gx", "0"):
        with pytest.raises(SystemExit):
            bench_ensemble.main([str(run_dir), "--sizes", bad])

