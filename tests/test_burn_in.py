"""Selection burn-in: no selection or mutation until every member has trained ``burn_in_steps`` env steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gymnasium import spaces

from evo_marl import ConfigError, MultiFrequencyPBT, Mutations, TournamentSelection, create_population
from evo_marl.config import load_config
from evo_marl.experiment import build_selection

OBS, ACT = spaces.Box(-1, 1, (3,), np.float32), spaces.Box(-1, 1, (2,), np.float32)


def _pop(n=8, steps=0):
    pop = create_population("MATD3", [OBS], [ACT], {"hidden_size": [8]}, {"AGENT_IDS": ["a"]}, population_size=n,
                            seed=0)
    for member in pop:
        member.steps.append(steps)
    return pop


def _strategies(burn_in):
    return [TournamentSelection(2, True, 8, seed=0, burn_in_steps=burn_in),
            MultiFrequencyPBT(8, [1, 2], seed=0, burn_in_steps=burn_in)]


@pytest.mark.parametrize("strategy", _strategies(1000), ids=["tournament", "multi_frequency"])
def test_burn_in_keeps_every_member_unmutated_until_the_last_member_reaches_it(strategy):
    pop = _pop(steps=999)
    pop[3].steps.append(5000)  # one member ahead does not end the burn-in: the slowest member decides
    fitness = list(np.linspace(-10, 10, 8))
    _, held = strategy.select(pop, fitness)
    assert [m.index for m in held] == [m.index for m in pop], "no member is replaced during the burn-in"
    assert all(m.elite and m.mut == "None" for m in held)
    hp_before = [m.hyperparameters() for m in held]
    Mutations(no_mutation=0.0, architecture=0.5, parameters=0.5, rand_seed=0).mutation(held)
    assert [m.hyperparameters() for m in held] == hp_before and all(m.mut == "None" for m in held)

    for member in held:
        member.steps.append(1000)
    _, selected = strategy.select(held, fitness)
    assert [m.index for m in selected] != [m.index for m in held], "selection starts once every member is burnt in"
    assert not all(m.elite for m in selected)


@pytest.mark.parametrize("strategy", _strategies(1000), ids=["tournament", "multi_frequency"])
def test_a_failed_member_is_replaced_by_a_clone_of_the_best_during_the_burn_in(strategy):
    pop = _pop(steps=10)
    pop[2].failed = True
    fitness = [1.0, 2.0, math.nan, 0.5, 3.0, 0.0, 1.5, -1.0]
    _, held = strategy.select(pop, fitness)
    kept = [k for k in range(8) if k != 2]
    assert [held[k].index for k in kept] == [pop[k].index for k in kept]
    replacement = held[2]
    assert replacement.index not in {m.index for m in pop} and not replacement.failed
    assert not replacement.elite, "the replacement is open to mutation"
    assert replacement.parent == pop[4].index if isinstance(strategy, TournamentSelection) else replacement.parent in {
        m.index for m in pop[:4]}, "tournament: the best member; MF-PBT: its sub-population's best"


def test_multi_frequency_counts_its_generations_from_the_end_of_the_burn_in():
    mf = MultiFrequencyPBT(8, [1, 3], seed=0, burn_in_steps=100)
    pop = _pop(steps=50)
    for _ in range(4):
        _, pop = mf.select(pop, list(range(8)))
    assert mf.generation == 0
    for member in pop:
        member.steps.append(100)
    _, pop = mf.select(pop, list(range(8)))
    assert mf.generation == 1 and mf.due(mf.generation) == [True, False]


def test_burn_in_off_selects_from_the_first_generation():
    strategy = TournamentSelection(2, True, 8, seed=0)
    pop = _pop(steps=0)
    _, selected = strategy.select(pop, list(range(8)))
    assert [m.index for m in selected] != [m.index for m in pop]


@pytest.mark.parametrize("value", [-1, 2.5, "many", True])
def test_bad_burn_in_raises_a_named_error(value):
    with pytest.raises(ConfigError, match="burn_in_steps"):
        TournamentSelection(2, True, 8, burn_in_steps=value)
    with pytest.raises(ConfigError, match="burn_in_steps"):
        MultiFrequencyPBT(8, burn_in_steps=value)
    with pytest.raises(ConfigError, match="selection.burn_in_steps"):
        load_config({"algo": "MATD3", "env": {"id": "tiny/coop_box"},
                                    "selection": {"burn_in_steps": value}})


@pytest.mark.parametrize("strategy", ["tournament", "multi_frequency"])
def test_burn_in_is_set_from_the_config(strategy, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(f"algo: MATD3\npopulation_size: 8\nenv: {{id: tiny/coop_box}}\n"
                    f"selection: {{strategy: {strategy}, burn_in_steps: 20000}}\n")
    assert build_selection(load_config(path)).burn_in_steps == 20000


@pytest.mark.parametrize("selection", [{"strategy": "multi_frequency"}, {"burn_in_steps": 1000}])
def test_engine_agilerl_refuses_what_its_trainer_cannot_do(selection):
    with pytest.raises(ConfigError, match="engine: agilerl"):
        load_config({"algo": "MATD3", "population_size": 8, "env": {"id": "tiny/coop_box"},
                                    "engine": "agilerl", "selection": selection})


def test_end_to_end_members_keep_their_indices_and_hyperparameters_through_the_burn_in(tiny_population, tmp_path):
    import csv

    from evo_marl import train_multi_agent_off_policy

    env, pop, memory, hp = tiny_population("MATD3", pop_size=4, num_envs=2)
    tournament = TournamentSelection(2, True, 4, seed=0, burn_in_steps=200)
    train_multi_agent_off_policy(env, "tiny", "MATD3", pop, memory, INIT_HP=hp, max_steps=400, evo_steps=100,
                                 eval_loop=1, tournament=tournament, mutation=Mutations(no_mutation=0.0, rand_seed=0),
                                 verbose=False, seed=0, run_dir=tmp_path / "run")
    with open(tmp_path / "run" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    by_gen: dict[int, list[tuple[int, str]]] = {}
    for row in rows:
        by_gen.setdefault(int(row["generation"]), []).append((int(row["index"]), row["mutation"]))
    assert by_gen[1] == by_gen[2] == [(k, "None") for k in range(4)], "no selection after 100 steps per member"
    assert [i for i, _ in by_gen[3]] != [0, 1, 2, 3] and any(m != "None" for _, m in by_gen[3]), \
        "selection and mutation start once every member has trained 200"
