"""Tournament selection and mutations: NaN ranks last, the elite is untouched, every mutation kind acts."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from gymnasium import spaces

from evo_marl import ConfigError, HyperparameterConfig, Mutations, RLParameter, TournamentSelection, create_population

OBS, ACT = spaces.Box(-1, 1, (4,), np.float32), spaces.Box(-1, 1, (2,), np.float32)


def _pop(n=4, algo="MATD3"):
    return create_population(algo, [OBS, OBS], [ACT, ACT], {"hidden_size": [32, 32]}, {"AGENT_IDS": ["a", "b"]},
                             population_size=n, seed=0)


def test_rl_parameter_mutates_within_bounds():
    rng = np.random.default_rng(0)
    p = RLParameter(min=8, max=64, dtype=int)
    values = [p.mutate(32, rng) for _ in range(50)]
    assert all(8 <= v <= 64 and isinstance(v, int) for v in values) and len(set(values)) > 1
    with pytest.raises(ConfigError, match=r"min=5: must be <= max \(1\)"):
        RLParameter(min=5, max=1)


def test_a_bad_range_field_names_its_parameter():
    with pytest.raises(ConfigError, match=r"^hp_config\.lr\.min=5: must be <= max \(0\.002\)"):
        HyperparameterConfig(lr={"min": 5, "max": 0.002})
    with pytest.raises(ConfigError, match=r"^hp_config\.lr\.scale='cubic'"):
        HyperparameterConfig(lr={"min": 1e-4, "max": 0.002, "scale": "cubic"})


def test_nan_fitness_ranks_last_and_elite_is_the_best():
    pop = _pop()
    for member, fit in zip(pop, [1.0, float("nan"), 3.0, 2.0]):
        member.fitness.append(fit)
    tournament = TournamentSelection(2, True, 4, 1, seed=0)
    elite, new_pop = tournament.select(pop)
    assert elite is pop[2] and new_pop[0].index == 2 and new_pop[0].elite
    parents = [m.parent for m in new_pop[1:]]
    assert 1 not in parents, "a NaN-fitness member must never win a tournament against a finite one"
    assert sorted(m.index for m in new_pop[1:]) == [4, 5, 6], "clones get fresh indices"
    for key, value in pop[2].networks["actor/a"].state_dict().items():
        assert torch.equal(value, new_pop[0].networks["actor/a"].state_dict()[key])


def _mutate_all(kind, **kwargs):
    pop = _pop(3)
    pop[0].elite = True
    probs = {"no_mutation": 0, "architecture": 0, "parameters": 0, "activation": 0, "rl_hp": 0, kind: 1}
    before = [copy.deepcopy(m.state_dict()) for m in pop]
    Mutations(**probs, rand_seed=0, **kwargs).mutation(pop)
    return pop, before


def test_elite_is_never_mutated():
    pop, before = _mutate_all("parameters")
    assert pop[0].mut == "None"
    for k, v in before[0]["networks"]["actor/a"].items():
        assert torch.equal(v, pop[0].networks["actor/a"].state_dict()[k])


def test_parameter_mutation_changes_actor_weights():
    pop, before = _mutate_all("parameters")
    changed = any(not torch.equal(v, pop[1].networks["actor/a"].state_dict()[k])
                  for k, v in before[1]["networks"]["actor/a"].items())
    assert changed and pop[1].mut == "parameters"


def test_activation_mutation_switches_activation():
    pop, _ = _mutate_all("activation", activation_selection=("ReLU", "Tanh"))
    assert pop[1].activation == "Tanh" and all(n.activation == "Tanh" for n in pop[1].networks.values())


def test_architecture_mutation_changes_a_network_and_keeps_targets_in_step():
    pop, before = _mutate_all("architecture", new_layer_prob=0.5)
    for member, state in zip(pop[1:], before[1:]):
        assert member.architecture() != {n: a["hidden_size"] for n, a in state["architectures"].items()} \
            or "no change" in member.mut
        for name, target in member.targets.items():
            assert target.hidden_size == member.networks[name].hidden_size
        x = torch.randn(5, 8 + 4)
        member.networks["critic1/a"](x)  # still callable with the joint input


def test_growing_a_member_network_preserves_its_function():
    member = _pop(1)[0]
    x = torch.randn(64, 4)
    before = member.networks["actor/a"](x).detach()
    rng = np.random.default_rng(0)
    member.mutate_architecture("actor/a", "add_node", rng)
    member.mutate_architecture("actor/a", "add_layer", rng)
    assert (member.networks["actor/a"](x) - before).abs().max().item() < 1e-5


def test_learning_rate_mutation_keeps_optimizer_state():
    member = _pop(1)[0]
    hp = HyperparameterConfig(lr_actor=RLParameter(min=1e-5, max=1.0))
    member.hp_config = hp
    opt = member.optimizers["actor/a"]
    for p in member.networks["actor/a"].parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    state_before = {k: v["exp_avg"].clone() for k, v in enumerate(opt.state.values())}
    Mutations(no_mutation=0, architecture=0, parameters=0, activation=0, rl_hp=1, rand_seed=0).mutation([member])
    assert member.mut.startswith("lr_actor:")
    assert member.optimizers["actor/a"] is opt
    assert opt.param_groups[0]["lr"] == pytest.approx(member.lr_actor)
    for k, v in enumerate(opt.state.values()):
        assert torch.equal(v["exp_avg"], state_before[k])


def test_mutation_probabilities_are_validated():
    with pytest.raises(ConfigError, match="must be > 0"):
        Mutations(no_mutation=0, architecture=0, parameters=0, activation=0, rl_hp=0)
    with pytest.raises(ConfigError, match=r"new_layer_prob=2: must be a finite number in \[0, 1\]"):
        Mutations(new_layer_prob=2)
