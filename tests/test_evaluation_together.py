"""Evaluation of the whole population in one replicated env equals evaluating one member after another."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import RaisingEnv

from evo_marl import create_population, make_vec_env
from evo_marl.envs.vector import SyncParallelVecEnv
from evo_marl.training import evaluation


def _population(env, algo: str, size: int = 3):
    agents = list(env.agents)
    return create_population(algo, [env.single_observation_space(a) for a in agents],
                             [env.single_action_space(a) for a in agents], {"hidden_size": [16]},
                             {"AGENT_IDS": agents}, population_size=size, num_envs=env.num_envs, seed=1)


def _one_by_one(population, env, seed):
    modes = [m.training for m in population]
    for m in population:
        m.set_training_mode(False)
    results = [evaluation._play_alone(m, env, None, seed) for m in population]
    for m, mode in zip(population, modes):
        m.set_training_mode(mode)
    return results


def _diversify(population) -> None:
    """Members of different widths and depths: the stacked path must pad or split them."""
    rng = np.random.default_rng(0)
    group = list(population[0].groups)[0]
    population[1].mutate_architecture(f"actor/{group}", "add_node", rng)
    population[2].mutate_architecture(f"actor/{group}", "add_layer", rng)


@pytest.mark.parametrize("stacked", [False, True])
@pytest.mark.parametrize("env_id, algo", [("atc/random", "MADDPG"), ("atc/canonical_crossing", "IPPO"),
                                          ("mpe2/simple_speaker_listener_v4", "MATD3"),
                                          ("mpe2/simple_speaker_listener_v4", "IPPO")])
def test_population_in_one_env_equals_one_member_after_another(env_id, algo, stacked, monkeypatch):
    env = make_vec_env(env_id, num_envs=5, seed=0)
    population = _population(env, algo)
    _diversify(population)
    assert env.replicated(len(population)) is not None
    calls = []
    for member in population:  # count the members' own get_action calls
        own = member.get_action
        monkeypatch.setattr(member, "get_action", lambda *a, _own=own, **k: calls.append(1) or _own(*a, **k))
    together = evaluation.evaluate_population(population, env, seed=7, stacked=stacked)
    assert bool(calls) != stacked, "stacked: one forward for all members, no member's own get_action"
    alone = _one_by_one(population, env, seed=7)
    assert len({r.fitness for r in together}) == len(population), "members differ, so the check can fail"
    # member by member the results are exact; batched matmuls may round differently in the last bits
    check = np.testing.assert_array_equal if not stacked else \
        (lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6))
    for t, a, member in zip(together, alone, population):
        check(t.returns, a.returns)
        assert t.fitness == member.fitness[-1]
        check(t.fitness, float(np.mean(a.returns)))
        assert t.episode_metrics.keys() == a.metrics.keys()
        for name, values in a.metrics.items():
            check(t.episode_metrics[name], values)
    assert all(m.training for m in population), "training mode is restored"


def test_stacked_evaluation_that_raises_continues_member_by_member(caplog, monkeypatch):
    env = make_vec_env("atc/random", num_envs=4, seed=0)
    population = _population(env, "MADDPG")
    alone = _one_by_one(population, env, seed=5)

    def broken(self, *args, **kwargs):
        raise RuntimeError("stack broke")

    monkeypatch.setattr(evaluation.StackedGreedyPolicy, "act", broken)
    together = evaluation.evaluate_population(population, env, seed=5)
    assert "stacked evaluation failed (RuntimeError: stack broke); members act one by one" in caplog.text
    for t, a in zip(together, alone):
        np.testing.assert_array_equal(t.returns, a.returns)


def test_replicated_env_starts_every_block_in_the_same_episodes():
    env = make_vec_env("atc/random", num_envs=3, seed=0)
    replica = env.replicated(4)
    assert replica is env.replicated(4), "made once"
    assert replica.num_envs == 12
    single, _ = env.reset(seed=11)
    wide, _ = replica.reset(seed=11)
    for agent in env.agents:
        np.testing.assert_array_equal(np.tile(single[agent], (4, 1)), wide[agent])


def test_envs_with_shared_random_transitions_are_evaluated_one_by_one():
    env = make_vec_env("bucket_brigade/default", num_envs=2, seed=0)  # fires spread from one shared stream
    assert env.replicated(3) is None
    population = _population(env, "IPPO", size=2)
    results = evaluation.evaluate_population(population, env, seed=3)
    assert all(math.isfinite(r.fitness) for r in results)


def test_member_that_raises_is_ranked_last_and_the_others_are_unchanged(caplog):
    env = make_vec_env("atc/random", num_envs=4, seed=0)
    population = _population(env, "MADDPG")
    alone = _one_by_one(population, env, seed=2)

    def broken(*args, **kwargs):
        raise RuntimeError("broken actor")

    population[1].get_action = broken
    together = evaluation.evaluate_population(population, env, seed=2, stacked=False)
    assert math.isnan(together[1].fitness) and population[1].failed
    assert "member 1 failed during evaluation" in caplog.text
    for k in (0, 2):
        np.testing.assert_array_equal(together[k].returns, alone[k].returns)


def test_env_error_in_one_members_episodes_fails_only_that_member(caplog):
    # the 2-env evaluation env is fine; in its replica for 3 members, member 1's second sub-env raises
    flags = iter([False, False] + [False, False, False, True, False, False])
    env = SyncParallelVecEnv(lambda: RaisingEnv(next(flags, False)), 2)
    population = _population(env, "MATD3")
    results = evaluation.evaluate_population(population, env, seed=0)
    assert [math.isnan(r.fitness) for r in results] == [False, True, False]
    assert "member 1 failed during evaluation (sub-env 1: the env raised during the episode " \
           "(ValueError: custom env bug))" in caplog.text


def test_env_that_cannot_be_replicated_falls_back_to_one_by_one(caplog, monkeypatch):
    env = make_vec_env("atc/head_on", num_envs=2, seed=0)
    population = _population(env, "IPPO", size=2)
    alone = _one_by_one(population, env, seed=4)

    def broken(num_envs, seed=None):
        raise MemoryError("no room for the replica")

    monkeypatch.setattr(env, "spawn", broken)
    results = evaluation.evaluate_population(population, env, seed=4)
    assert "could not be replicated (MemoryError: no room for the replica)" in caplog.text
    assert [r.fitness for r in results] == [float(np.mean(a.returns)) for a in alone]
    caplog.clear()
    evaluation.evaluate_population(population, env, seed=4)
    assert "could not be replicated" not in caplog.text, "tried once"
