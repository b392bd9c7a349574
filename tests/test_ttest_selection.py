"""PBT's t-test selection: a member is replaced by a random opponent only when the opponent is significantly fitter."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from gymnasium import spaces

from evo_marl import ConfigError, Mutations, TournamentSelection, TTestSelection, create_population
from evo_marl.config import load_config
from evo_marl.experiment import build_selection
from evo_marl.hpo.ttest import significantly_greater

OBS, ACT = spaces.Box(-1, 1, (3,), np.float32), spaces.Box(-1, 1, (2,), np.float32)


def _pop(histories):
    pop = create_population("MATD3", [OBS], [ACT], {"hidden_size": [8]}, {"AGENT_IDS": ["a"]},
                            population_size=len(histories), seed=0)
    for member, history in zip(pop, histories):
        member.fitness.extend(history)
        member.steps.append(1000)
    return pop


@pytest.mark.parametrize("higher, lower, expected", [
    ([10, 11, 12, 13], [0, 1, 2, 3], True),           # clearly apart
    ([1, 2, 3, 4], [0, 1, 2, 3], False),              # overlapping: not significant
    ([-31, -31, -31, -31], [-166, -50, -40, 20], False),  # a steady plateau against a member still swinging
    ([5, 5], [4, 4], True),                           # no variance on either side: the larger mean wins
    ([4, 4], [4, 4], False),                          # equal
    ([0, 1, 2, 3], [10, 11, 12, 13], False),          # lower mean is never "significantly greater"
    ([10], [0, 0, 0], False),                         # one value: no variance to test
    ([10, math.nan, 12], [0, 1], True),               # non-finite values are dropped
])
def test_welch_test(higher, lower, expected):
    assert significantly_greater(higher, lower, 0.05) is expected


def test_a_member_clearly_behind_is_replaced_by_a_clone_of_its_opponent_which_mutation_then_explores():
    pop = _pop([[10, 10, 10, 10], [0, 0, 0, 0]])
    elite, new = TTestSelection(2, seed=0).select(pop)
    assert elite is pop[0]
    assert new[0] is pop[0] and new[0].elite, "the best member is kept in place, unmutated"
    child = new[1]
    assert child.index == 2 and child.parent == pop[0].index and not child.elite
    assert child.fitness == pop[0].fitness, "the clone inherits the opponent's history"
    Mutations(no_mutation=0.0, rl_hp=1.0, architecture=0.0, parameters=0.0, new_layer_prob=0.0,
              rand_seed=0).mutation(new)
    assert child.mut != "None" and new[0].mut == "None"


def test_a_noisy_member_is_kept_where_a_tournament_would_cull_it():
    pop = _pop([[-31, -31, -31, -31], [-166, 20, -40, -50]])  # a steady plateau against a member still learning
    _, new = TTestSelection(2, seed=0).select(pop)
    assert [m.index for m in new] == [0, 1] and all(m.elite for m in new)
    _, by_tournament = TournamentSelection(2, True, 2, seed=0).select(pop)
    assert by_tournament[1].parent == 0, "a tournament replaces it by a clone of the steady member"


def test_a_member_is_judged_on_its_last_window_evaluations_only():
    old_bad = [-100, -100, -100, 9, 10, 9, 10]  # behind long ago, level now
    pop = _pop([[10, 10, 10, 10, 10, 10, 10], old_bad])
    assert [m.index for m in TTestSelection(2, window=4, seed=0).select(pop)[1]] == [0, 1]
    pop = _pop([[10, 10, 10, 10, 10, 10, 10], old_bad])
    assert TTestSelection(2, window=7, seed=0).select(pop)[1][1].parent == 0


def test_too_short_histories_are_never_replaced_and_failed_members_always_are():
    pop = _pop([[10, 10], [0], [0, 0], [1, 1]])
    pop[3].failed = True
    _, new = TTestSelection(4, seed=0).select(pop)
    assert new[1] is pop[1], "one evaluation: nothing to test"
    assert new[3].parent == pop[0].index and not new[3].failed and not new[3].elite, "failed: clone of the best"


def test_opponents_are_drawn_by_the_strategy_rng_and_decisions_use_the_old_population():
    histories = [[float(k)] * 4 for k in range(8)]  # deterministic, every member a different level
    first = [m.parent for m in TTestSelection(8, seed=3).select(_pop(histories))[1]]
    again = [m.parent for m in TTestSelection(8, seed=3).select(_pop(histories))[1]]
    other = [m.parent for m in TTestSelection(8, seed=4).select(_pop(histories))[1]]
    assert first == again and first != other
    assert all(parent >= slot for slot, parent in enumerate(first)), "a member only ever copies a fitter one"
    assert first[7] == 7, "the best member is kept"

    strategy = TTestSelection(8, seed=3)
    state = strategy.state_dict()
    a = [m.parent for m in strategy.select(_pop(histories))[1]]
    strategy.load_state_dict(state)
    assert [m.parent for m in strategy.select(_pop(histories))[1]] == a, "the RNG state round-trips"


def test_burn_in_holds_every_member():
    pop = _pop([[10, 10, 10, 10], [0, 0, 0, 0]])
    _, new = TTestSelection(2, seed=0, burn_in_steps=5000).select(pop)
    assert [m.index for m in new] == [0, 1] and all(m.elite for m in new)


@pytest.mark.parametrize("kwargs, field", [({"significance": 0}, "significance"),
                                           ({"significance": 1.5}, "significance"),
                                           ({"window": 1}, "window"), ({"window": 2.5}, "window")])
def test_bad_options_raise_a_named_error(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        TTestSelection(4, **kwargs)


def test_the_config_builds_it_with_its_options_and_names_bad_fields():
    base = {"algo": "MATD3", "population_size": 8, "env": {"id": "tiny/coop_box"}}
    strategy = build_selection(load_config({**base, "selection": {"strategy": "ttest", "significance": 0.1,
                                                                  "ttest_window": 6, "burn_in_steps": 100}}))
    assert isinstance(strategy, TTestSelection)
    assert (strategy.significance, strategy.window, strategy.burn_in_steps) == (0.1, 6, 100)
    assert build_selection(load_config({**base, "selection": {"strategy": "ttest"}})).window == 4
    with pytest.raises(ConfigError, match="selection.ttest_window"):
        load_config({**base, "selection": {"strategy": "ttest", "ttest_window": 1}})
    with pytest.raises(ConfigError, match="selection.significance.*applies to strategy ttest only"):
        load_config({**base, "selection": {"strategy": "tournament", "significance": 0.1}})
    with pytest.raises(ConfigError, match="engine: agilerl"):
        load_config({**base, "engine": "agilerl", "selection": {"strategy": "ttest"}})


def test_end_to_end_through_the_trainer(tiny_population, tmp_path):
    # significance 0.99: any opponent with a higher mean counts (tiny's members evaluate within noise of each other)
    from evo_marl import train_multi_agent_off_policy

    env, pop, memory, hp = tiny_population("MATD3", pop_size=4, num_envs=2)
    train_multi_agent_off_policy(env, "tiny", "MATD3", pop, memory, INIT_HP=hp, max_steps=1000, evo_steps=100,
                                 eval_loop=1, tournament=TTestSelection(4, significance=0.99, window=2, seed=0),
                                 mutation=Mutations(no_mutation=0.0, rand_seed=0), verbose=False, seed=0,
                                 run_dir=tmp_path / "run")
    with open(tmp_path / "run" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    kept = [r for r in rows if int(r["generation"]) > 1 and r["parent"] == r["index"]]
    replaced = [r for r in rows if r["parent"] not in ("", r["index"])]
    assert kept and replaced, "some members stay, some are replaced by clones of fitter ones"
    assert all(r["mutation"] == "None" for r in kept)


def test_save_load_continue_equals_an_uninterrupted_run(tiny_population, tmp_path):
    from evo_marl import train_multi_agent_off_policy

    def run(run_dir, max_steps, resume=False):
        env, pop, memory, hp = tiny_population("MATD3", pop_size=4, num_envs=2)
        pop, history = train_multi_agent_off_policy(
            env, "tiny", "MATD3", pop, memory, INIT_HP=hp, max_steps=max_steps, evo_steps=100, eval_loop=1,
            tournament=TTestSelection(4, significance=0.99, window=2, seed=0), mutation=Mutations(rand_seed=0),
            verbose=False, seed=3, run_dir=run_dir, resume=resume)
        return pop, history

    pop_full, full = run(tmp_path / "full", 600)
    run(tmp_path / "resumed", 300)
    pop_resumed, resumed = run(tmp_path / "resumed", 600, resume=True)
    np.testing.assert_array_equal(np.array(full), np.array(resumed))
    assert [m.index for m in pop_resumed] == [m.index for m in pop_full]
    assert len({m.index for m in pop_full}) == 4 and max(m.index for m in pop_full) > 3, "members were replaced"
