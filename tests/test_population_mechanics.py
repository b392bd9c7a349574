"""Population mechanics every algorithm shares: clones own their state, one fitness definition everywhere,
fixed validation episodes, seeded fallback actions, and named errors for unknown keywords."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from evo_marl import (ConfigError, MultiAgentReplayBuffer, Mutations, NoSelection, TournamentSelection,
                      best_member, create_population, make_vec_env, member_fitness, train_multi_agent_off_policy,
                      train_multi_agent_on_policy)
from evo_marl.algorithms.matd3 import MATD3
from evo_marl.buffers.rollout import RolloutBuffer
from evo_marl.training import evaluation as evaluation_module
from conftest import make_tiny_population

ALGOS = ["MADDPG", "MATD3", "IPPO"]


def _tiny(algo: str, pop_size: int = 2, num_envs: int = 4, **hp):
    env = make_vec_env("tiny/coop_box", num_envs=num_envs, seed=0)
    init_hp = {"BATCH_SIZE": 16, "AGENT_IDS": env.agents, **hp}
    init_hp.update({"LEARN_STEP": 8 * num_envs} if algo == "IPPO" else {"LEARN_STEP": 4})
    pop = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [16]}, init_hp,
                            population_size=pop_size, num_envs=num_envs, seed=0)
    return env, pop


def _learn_once(member, env) -> None:
    """One real update (so Adam has moments) from experience of ``env``."""
    obs, infos = env.reset(seed=1)
    if member.on_policy:
        lead = {g: agents[0] for g, agents in member.groups.items()}
        buf = RolloutBuffer(member.rollout_steps, env.num_envs, member.agent_ids, member.groups,
                            {g: member.obs_dims[a] for g, a in lead.items()},
                            {g: member.codecs[a].raw_dim for g, a in lead.items()})
        stack = lambda d: np.stack([d[a] for a in env.agents], axis=1)  # noqa: E731
        for _ in range(member.rollout_steps):
            step = member.act(obs, infos)
            obs, rew, term, trunc, infos = env.step(step.env_actions)
            buf.add(step.obs, step.actions, step.log_probs, step.values, stack(rew), stack(term), stack(trunc),
                    np.ones((env.num_envs, len(env.agents)), bool), np.zeros((env.num_envs, len(env.agents))),
                    step.action_masks)
        buf.set_last_obs(member.group_obs(obs))
        member.learn(buf)
        return
    memory = MultiAgentReplayBuffer(1000, ["obs", "action", "reward", "next_obs", "termination"],
                                    agent_ids=env.agents, seed=0)
    for _ in range(8):
        env_act, raw = member.get_action(obs, infos)
        next_obs, rew, term, trunc, infos = env.step(env_act)
        memory.save_to_memory(obs, raw, rew, infos["final_observation"], term, is_vectorised=True)
        obs = next_obs
    for _ in range(member.policy_freq):  # the actors' optimizers step too
        member.learn(memory.sample(member.batch_size))


def _tensors(member) -> dict[str, torch.Tensor]:
    """Every tensor of a member: networks, targets and optimizer state (moments and step counts)."""
    out = {f"net.{n}.{k}": v for n, net in member.networks.items() for k, v in net.state_dict().items()}
    out.update({f"target.{n}.{k}": v for n, net in member.targets.items() for k, v in net.state_dict().items()})
    for name, opt in member.optimizers.items():
        for i, state in enumerate(opt.state.values()):
            out.update({f"opt.{name}.{i}.{k}": v for k, v in state.items() if torch.is_tensor(v)})
    out.update({f"log_std.{g}": p for g, p in getattr(member, "log_stds", {}).items()})
    return out


@pytest.mark.parametrize("algo", ALGOS)
def test_a_clone_owns_independent_networks_targets_and_optimizer_state(algo):
    env, pop = _tiny(algo)
    parent = pop[0]
    _learn_once(parent, env)
    child, sibling = parent.clone(index=5, seed=1), parent.clone(index=6, seed=2)
    mine, theirs = _tensors(parent), _tensors(child)
    assert set(mine) == set(theirs) and any(k.startswith("opt.") for k in mine), "Adam state must be cloned"
    shared = [k for k in mine if mine[k].data_ptr() == theirs[k].data_ptr()]
    assert shared == [], f"a clone shares storage with its parent: {shared[:5]}"
    before_parent = {k: v.clone() for k, v in _tensors(parent).items()}
    before_sibling = {k: v.clone() for k, v in _tensors(sibling).items()}
    _learn_once(child, env)
    assert any(not torch.equal(v, before_parent[k]) for k, v in _tensors(child).items()), "the clone learned"
    for name, before in (("parent", before_parent), ("sibling", before_sibling)):
        after = _tensors(parent if name == "parent" else sibling)
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert changed == [], f"learning on the clone changed its {name}: {changed[:5]}"


def test_fitness_is_one_definition_for_selection_records_best_member_and_reports(tmp_path):
    env, pop, memory, hp = make_tiny_population("MATD3", pop_size=3, num_envs=2)
    tournament = TournamentSelection(2, True, 3, eval_loop=2)  # fitness = mean of the last 2 evaluations
    seen = []

    class Spy(TournamentSelection):
        def select(self, population, fitness=None):
            seen.append(([m.index for m in population], list(fitness),
                         [member_fitness(m, 2) for m in population]))
            return super().select(population, fitness)

    spy = Spy(2, True, 3, eval_loop=2)
    pop, history = train_multi_agent_off_policy(env, "tiny", "MATD3", pop, memory, INIT_HP=hp, max_steps=800,
                                                evo_steps=200, eval_loop=2, tournament=spy, seed=3,
                                                run_dir=tmp_path, verbose=False)
    assert tournament.eval_loop == 2 and len(seen) == len(history) - 1
    for (_, given, defined), generation in zip(seen, history):
        assert given == pytest.approx(defined) and given == pytest.approx(generation)
    for member, fitness in zip(pop, history[-1]):  # the final, unevolved generation
        assert fitness == pytest.approx(np.mean(member.fitness[-2:]))
    with open(tmp_path / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if int(r["generation"]) == len(history)]
    assert [float(r["fitness"]) for r in rows] == pytest.approx(history[-1])
    assert [float(r["eval_return"]) for r in rows] == pytest.approx([m.fitness[-1] for m in pop])
    with open(tmp_path / "generations.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert int(float(last["evo/best_member"])) == best_member(pop, 2).index
    assert float(last["evo/best_fitness"]) == pytest.approx(max(history[-1]))


@pytest.mark.parametrize("eval_set,same", [("fixed", True), ("fresh", False)])
def test_fixed_validation_episodes_are_the_same_every_generation(tmp_path, monkeypatch, eval_set, same):
    seeds = []
    original = evaluation_module.evaluate_population
    monkeypatch.setattr(evaluation_module, "evaluate_population",
                        lambda pop, env, steps, seed, **kw: seeds.append(seed) or original(pop, env, steps, seed=seed, **kw))
    env, pop, memory, hp = make_tiny_population("MADDPG", pop_size=2, num_envs=2)
    train_multi_agent_off_policy(env, "tiny", "MADDPG", pop, memory, INIT_HP=hp, max_steps=300, evo_steps=100,
                                 eval_loop=2, eval_set=eval_set, seed=0, run_dir=tmp_path, verbose=False)
    assert len(seeds) == 3 and (len(set(seeds)) == 1) == same


@pytest.mark.parametrize("algo", ALGOS)
def test_a_failed_member_plays_seeded_random_actions(tmp_path, monkeypatch, algo):
    """A member whose acting raises keeps its envs stepping with random actions drawn from the run's seed."""
    def run(run_dir):
        env, pop = _tiny(algo, pop_size=2, num_envs=2)
        cls = type(pop[0])
        for name in ("get_action", "act") if algo == "IPPO" else ("get_action",):
            original = getattr(cls, name)

            def broken(self, *args, _original=original, **kwargs):
                if self.index == 1:
                    raise RuntimeError("broken policy")
                return _original(self, *args, **kwargs)
            monkeypatch.setattr(cls, name, broken)
        trained = []
        if algo == "IPPO":
            _, history = train_multi_agent_on_policy(env, "tiny", algo, pop, max_steps=64, evo_steps=64, eval_loop=2,
                                                     seed=5, run_dir=run_dir, verbose=False)
        else:
            memory = MultiAgentReplayBuffer(10_000, ["obs", "action", "reward", "next_obs", "termination"],
                                            agent_ids=env.agents)
            _, history = train_multi_agent_off_policy(env, "tiny", algo, pop, memory, max_steps=64, evo_steps=64,
                                                      eval_loop=2, seed=5, run_dir=run_dir, verbose=False)
            trained = [memory._data["obs"][a][: len(memory)].copy() for a in env.agents]
        monkeypatch.undo()
        return history, [m.scores for m in pop], trained

    history_a, scores_a, obs_a = run(tmp_path / "a")
    history_b, scores_b, obs_b = run(tmp_path / "b")
    assert math.isnan(history_a[-1][1]), "the broken member ranks last"
    assert scores_a == scores_b and all(np.array_equal(x, y) for x, y in zip(obs_a, obs_b))


def test_no_selection_keeps_every_member_unmutated():
    _, pop = _tiny("MADDPG", pop_size=3)
    for k, m in enumerate(pop):
        m.fitness.append(float(k))
    elite, new = NoSelection().select(pop)
    assert elite is pop[2] and new == pop and all(m.elite for m in new)
    Mutations(no_mutation=0, rl_hp=1.0, rand_seed=0).mutation(new)
    assert all(m.mut == "None" for m in new)


@pytest.mark.parametrize("call,message", [
    (lambda: Mutations(archtecture=0.9), r"Mutations.archtecture=.*did you mean 'architecture'"),
    (lambda: _tiny("MATD3", lr_actr=1e-3), r"INIT_HP.lr_actr=.*unknown hyperparameter of MATD3; did you mean 'lr_actor'"),
    (lambda: MATD3([np.zeros(3)], [np.zeros(2)], polcy_freq=3), r"polcy_freq=3: unknown hyperparameter of MATD3"),
    (lambda: create_population("MADDPG", [], [], hp_init="random"), r"hp_init='random': must be one of"),
    (lambda: TournamentSelection(5, True, 3), r"tournament_size=5: must be <= population_size \(3\)"),
    (lambda: _tiny("IPPO", LR_ACTOR=1e-3), r"INIT_HP.LR_ACTOR=.*is a hyperparameter of (MADDPG|MATD3), not of IPPO"),
])
def test_unknown_or_misplaced_keywords_are_named_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_hyperparameters_are_range_checked_whenever_they_change():
    _, pop = _tiny("MADDPG")
    member = pop[0]
    member.lr_actor = 3e-4  # attribute access is the AgileRL style; it updates the optimizers in place
    assert all(g["lr"] == 3e-4 for g in member.optimizers["actor/agent_0"].param_groups)
    with pytest.raises(ConfigError, match=r"gamma=2: must be a finite number in \[0, 1\]"):
        member.gamma = 2
    with pytest.raises(ConfigError, match=r"gama=.*did you mean 'gamma'"):
        member.set_hyperparameter("gama", 0.9)


@pytest.mark.parametrize("algo", ALGOS)
def test_sampled_populations_draw_each_member_across_the_search_space(algo):
    _, pop = _tiny(algo, pop_size=4)
    env = make_vec_env("tiny/coop_box", num_envs=4, seed=0)
    sampled = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                                [env.single_action_space(a) for a in env.agents], {"hidden_size": [16]},
                                {"AGENT_IDS": env.agents}, population_size=4, num_envs=4, seed=0, hp_init="sampled")
    again = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                              [env.single_action_space(a) for a in env.agents], {"hidden_size": [16]},
                              {"AGENT_IDS": env.agents}, population_size=4, num_envs=4, seed=0, hp_init="sampled")
    space = sampled[0].hp_config
    for name in space.names():
        values = [m.hyperparameters()[name] for m in sampled]
        assert all(space[name].min <= v <= space[name].max for v in values)
        assert len(set(values)) > 1 or space[name].min == space[name].max, f"{name} was not sampled: {values}"
    assert [m.hyperparameters() for m in sampled] == [m.hyperparameters() for m in again], "same seed, same draw"
