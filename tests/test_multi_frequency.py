"""Multi-frequency PBT: evolution periods, exploit brackets, asymmetric migration, failures, seeding, state."""

from __future__ import annotations

import copy
import json
import logging
import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from evo_marl import CheckpointError, ConfigError, MultiFrequencyPBT, Mutations, create_population

OBS, ACT = spaces.Box(-1, 1, (3,), np.float32), spaces.Box(-1, 1, (2,), np.float32)


def _pop(n=8, algo="MATD3"):
    pop = create_population(algo, [OBS], [ACT], {"hidden_size": [8]}, {"AGENT_IDS": ["a"]}, population_size=n, seed=0)
    for k, member in enumerate(pop):
        member.set_hyperparameter("lr_actor", 1e-4 * (k + 1))  # tells members' hyperparameters apart
    return pop


def _select(strategy, pop, fitness):
    for member, fit in zip(pop, fitness):
        member.fitness.append(fit)
    return strategy.select(pop)


def _same_weights(a, b) -> bool:
    theirs = b.networks["actor/a"].state_dict()
    return all(torch.equal(v, theirs[k]) for k, v in a.networks["actor/a"].state_dict().items())


def test_layout_and_default_brackets():
    mf = MultiFrequencyPBT(8, frequencies=[1, 4], seed=0)
    assert mf.slots == [[0, 1, 2, 3], [4, 5, 6, 7]] and mf.brackets(4) == (1, 1, 1)
    assert [mf.subpopulation_of(k) for k in (0, 3, 4, 7)] == [0, 0, 1, 1]
    assert MultiFrequencyPBT(16, [1, 5]).brackets(8) == (2, 2, 2)
    assert MultiFrequencyPBT(7, [1, 3]).slots == [[0, 1, 2, 3], [4, 5, 6]], "uneven sizes differ by at most one"
    assert MultiFrequencyPBT(4, [1]).brackets(4) == (1, 0, 1), "one sub-population: no migration bracket"
    assert mf.due(4) == [True, True] and mf.due(3) == [True, False]


def test_slow_subpopulation_changes_only_every_f_generations():
    mf, pop = MultiFrequencyPBT(8, frequencies=[1, 3], seed=0), _pop()
    rng = np.random.default_rng(1)
    for generation in range(1, 7):
        slow_before = [m.index for m in pop[4:]]
        fast_before = [m.index for m in pop[:4]]
        # the slow sub-population is fitter than the fast one, so nothing migrates into it
        _, new = _select(mf, pop, list(rng.uniform(0, 1, 4)) + list(rng.uniform(2, 3, 4)))
        slow_after = [m.index for m in new[4:]]
        assert (slow_after != slow_before) == (generation % 3 == 0), f"generation {generation}"
        assert [m.index for m in new[:4]] != fast_before, "the fast sub-population evolves every generation"
        if generation % 3:
            assert all(m.elite and m.mut == "None" for m in new[4:])
            assert all(_same_weights(a, b) for a, b in zip(pop[4:], new[4:]))
        pop = new


def test_exploit_replaces_losers_with_winner_clones_and_keeps_the_rest():
    mf, pop = MultiFrequencyPBT(8, frequencies=[1, 2], seed=0), _pop()
    # fast sub-population ranks 1 > 3 > 0 > 2; the slow one is worse than all of them (no migration)
    elite, new = _select(mf, pop, [5.0, 9.0, 1.0, 7.0, -1.0, -2.0, -3.0, -4.0])
    assert elite is pop[1]
    assert new[2].index == 8 and new[2].parent == 1 and not new[2].elite, "the loser becomes a clone of the winner"
    assert new[2].lr_actor == pytest.approx(pop[1].lr_actor) and _same_weights(pop[1], new[2])
    for k in (0, 1, 3):
        assert new[k].index == pop[k].index and new[k].elite and new[k] is not pop[k]
    assert [m.index for m in new[4:]] == [4, 5, 6, 7], "the slow sub-population (period 2) is not due yet"
    Mutations(no_mutation=0, architecture=0, parameters=1, rl_hp=0, rand_seed=0).mutation(new)
    assert new[2].mut == "parameters" and not _same_weights(pop[1], new[2]), "only the loser clone explores"
    assert all(new[k].mut == "None" and _same_weights(pop[k], new[k]) for k in (0, 1, 3, 4, 5, 6, 7))
    # the clone does not share its parent's networks or optimizer state
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(pop[1].networks["actor/a"].parameters(),
                                                           new[2].networks["actor/a"].parameters()))


def test_migration_from_a_slower_subpopulation_brings_weights_and_hyperparameters():
    mf, pop = MultiFrequencyPBT(8, frequencies=[1, 2], seed=0), _pop()
    # fast: 0 > 1 > 2 > 3 (open = 2, loser = 3); slow: 4 is fitter than the open member 2
    _, new = _select(mf, pop, [8.0, 7.0, 6.0, 5.0, 10.0, 0.0, 0.0, 0.0])
    moves = {m.slot: m for m in mf.last_moves}
    assert moves[2].kind == "migrate" and moves[2].source == 4 and moves[3].kind == "clone"
    assert new[2].parent == 4 and new[2].elite, "migrants arrive unmutated"
    assert _same_weights(pop[4], new[2]) and new[2].lr_actor == pytest.approx(pop[4].lr_actor)
    assert [m.index for m in new[4:]] == [4, 5, 6, 7], "migration copies; the outsider stays where it is"


def test_migration_from_a_faster_subpopulation_brings_only_weights():
    mf, pop = MultiFrequencyPBT(8, frequencies=[1, 2], seed=0), _pop()
    _select(mf, pop, [0.0] * 8)  # generation 1: only the fast sub-population is due
    pop = [m.clone(index=m.index) for m in pop]
    # generation 2, both due: fast 0 (fitness 10) beats the slow open member (slot 6); slow best is 4
    _, new = _select(mf, pop, [10.0, 1.0, 0.5, 0.2, 5.0, 4.0, 3.0, 2.0])
    moves = {m.slot: m for m in mf.last_moves}
    assert moves[6] == type(moves[6])(6, "migrate_weights", 0, hp_source=4)
    assert _same_weights(pop[0], new[6]), "the outsider's weights"
    assert new[6].lr_actor == pytest.approx(pop[4].lr_actor), "the destination elite's hyperparameters"
    assert new[6].optimizers["actor/a"].param_groups[0]["lr"] == pytest.approx(pop[4].lr_actor)
    assert moves[2].kind == "migrate" and moves[2].source == 4, "the slow elite migrates whole into the fast one"


def test_no_migration_when_outsiders_are_not_fitter():
    mf, pop = MultiFrequencyPBT(8, frequencies=[1, 2], seed=0), _pop()
    _select(mf, pop, [8.0, 7.0, 6.0, 5.0, 6.0, 1.0, 1.0, 1.0])  # the best outsider ties the open member
    assert [m.kind for m in mf.last_moves] == ["keep", "keep", "keep", "clone"] + ["keep"] * 4


def test_failed_members_are_never_kept_and_never_elite():
    mf, pop = MultiFrequencyPBT(8, frequencies=[1, 3], seed=0), _pop()
    pop[5].failed = True
    elite, new = _select(mf, pop, [1.0, float("nan"), 2.0, 3.0, 9.0, 99.0, 4.0, 5.0])
    assert elite is pop[4], "a failed member is never the elite, whatever its last value"
    moves = {m.slot: m for m in mf.last_moves}
    assert moves[1].kind == "clone" and moves[1].source == 3, "NaN in a due sub-population: replaced as a loser"
    assert moves[0].kind == "migrate" and moves[0].source == 4, "the open member makes way for the slow elite"
    assert moves[2].kind == moves[3].kind == "keep"
    assert moves[5].kind == "repair" and moves[5].source == 4, "failed in a sub-population that is not due"
    assert not new[5].elite and new[5].index not in range(8) and not new[5].failed
    assert all(moves[k].kind == "keep" for k in (4, 6, 7))


def test_every_member_failed_keeps_the_population(caplog):
    mf, pop = MultiFrequencyPBT(6, frequencies=[1, 2], seed=0), _pop(6)
    with caplog.at_level(logging.WARNING):
        elite, new = _select(mf, pop, [float("nan")] * 6)
    assert "every member failed" in caplog.text and [m.index for m in new] == list(range(6)) and elite is pop[0]


def test_explicit_fitness_overrides_member_history():
    mf, pop = MultiFrequencyPBT(8, frequencies=[1, 2], seed=0), _pop()
    for member in pop:
        member.fitness.append(0.0)
    elite, _ = mf.select(pop, fitness=[0, 0, 5, 0, -1, -1, -1, -1])
    assert elite is pop[2] and mf.last_moves[2].kind == "keep"
    with pytest.raises(ConfigError, match="fitness='3 values'"):
        mf.select(pop, fitness=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="population='4 members'"):
        mf.select(pop[:4])


def _stream(member) -> int:
    return member.rng.bit_generator.state["state"]["state"]


def _run(strategy, generations=4):
    pop, rng, out = _pop(), np.random.default_rng(5), []
    for _ in range(generations):
        _, pop = _select(strategy, pop, list(rng.normal(size=8)))
        out.append(([m.index for m in pop], [m.parent for m in pop], [_stream(m) for m in pop]))
    return out


def test_same_seed_same_generations_and_child_streams():
    assert _run(MultiFrequencyPBT(8, [1, 2], seed=3)) == _run(MultiFrequencyPBT(8, [1, 2], seed=3))
    assert _run(MultiFrequencyPBT(8, [1, 2], seed=3)) != _run(MultiFrequencyPBT(8, [1, 2], seed=4))


def test_state_round_trip_continues_identically():
    a = MultiFrequencyPBT(8, [1, 3], seed=0)
    pop, rng = _pop(), np.random.default_rng(2)
    for _ in range(2):
        _, pop = _select(a, pop, list(rng.normal(size=8)))
    b = MultiFrequencyPBT(8, [1, 3], seed=99)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.generation == 2
    fitness = list(rng.normal(size=8))
    for member, fit in zip(pop, fitness):
        member.fitness.append(fit)
    _, from_a = a.select(pop)
    _, from_b = b.select(pop)
    assert a.last_moves == b.last_moves and any(m.kind != "keep" for m in a.last_moves[4:]), "generation 3: slow due"
    assert [(m.index, _stream(m)) for m in from_a] == [(m.index, _stream(m)) for m in from_b]
    with pytest.raises(CheckpointError, match=r"frequencies was \[1, 3\], now \[1, 2\]"):
        MultiFrequencyPBT(8, [1, 2]).load_state_dict(a.state_dict())
    with pytest.raises(CheckpointError, match="'rng' is missing"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if k != "rng"})


def test_indices_are_never_reused():
    mf, pop = MultiFrequencyPBT(6, [1, 2], seed=0), _pop(6)
    seen = {m.index for m in pop}
    for fitness in ([0, 0, 9, 0, 0, 0], [9, 0, 0, 0, 0, 0], [0, 9, 0, 0, 0, 0]):
        _, pop = _select(mf, pop, [float(f) for f in fitness])
        new = {m.index for m in pop} - seen
        assert all(i > max(seen) for i in new) or not new
        seen |= new


@pytest.mark.parametrize("kwargs, match", [
    ({"frequencies": [2, 2]}, "frequencies=\\[2, 2\\]: must be strictly increasing"),
    ({"frequencies": []}, "frequencies=\\[\\]: must be a non-empty list"),
    ({"frequencies": [1, 0.5]}, "frequencies\\[1\\]=0.5: must be an integer >= 1"),
    ({"frequencies": "15"}, "must be a non-empty list"),
    ({"population_size": 5}, "population_size=5: splits into 2 sub-populations of \\[3, 2\\]"),
    ({"winners": 0}, "winners=0: must be None or an integer >= 1"),
    ({"open_for_migration": -1}, "open_for_migration=-1"),
    ({"population_size": 8, "winners": 2, "losers": 2}, "winners \\+ open_for_migration \\+ losers = 2 \\+ 1 \\+ 2"),
    ({"eval_loop": 0}, "eval_loop=0: must be an integer >= 1"),
])
def test_bad_arguments_raise_named_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MultiFrequencyPBT(**{"population_size": 8, "frequencies": [1, 5], **kwargs})
    with pytest.raises(TypeError):
        MultiFrequencyPBT(8, [1, 5], tournament_size=2)  # no keyword swallowing


@pytest.mark.parametrize("algo", ["MATD3", "IPPO"])
def test_end_to_end_on_the_tiny_env(tiny_population, tmp_path, algo):
    import csv

    from evo_marl import train_multi_agent_off_policy, train_multi_agent_on_policy

    ippo_hp = {"LEARN_STEP": 25, "BATCH_SIZE": 25} if algo == "IPPO" else {}  # a rollout per 50 vector steps
    env, pop, memory, hp = tiny_population(algo, pop_size=6, num_envs=2, **ippo_hp)
    mf = MultiFrequencyPBT(6, frequencies=[1, 2], seed=0)
    common = dict(INIT_HP=hp, max_steps=400, evo_steps=100, eval_loop=1, tournament=mf, mutation=Mutations(rand_seed=0),
                  verbose=False, seed=0, run_dir=tmp_path / "run")
    if algo == "IPPO":
        pop, history = train_multi_agent_on_policy(env, "tiny", algo, pop, **common)
    else:
        pop, history = train_multi_agent_off_policy(env, "tiny", algo, pop, memory, **common)
    assert len(history) == 4 and len(pop) == 6 and all(math.isfinite(f) for row in history for f in row)
    assert mf.generation == 3, "evolved after every generation but the last"
    with open(tmp_path / "run" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    by_gen = {}
    for row in rows:
        by_gen.setdefault(int(row["generation"]), []).append(int(row["index"]))
    # slots 3-5 (period 2) keep their members after generation 1 and change after generation 2
    assert by_gen[2][3:] == by_gen[1][3:] and by_gen[3][3:] != by_gen[2][3:]
    assert by_gen[2][:3] != by_gen[1][:3]


def test_resume_continues_the_schedule_exactly(tiny_population, tmp_path):
    from evo_marl import train_multi_agent_off_policy
    from evo_marl.training.checkpoint import generation_dirs, read_manifest

    def run(run_dir, max_steps, resume=False):
        env, pop, memory, hp = tiny_population("MATD3", pop_size=6, num_envs=2)
        mf = MultiFrequencyPBT(6, frequencies=[1, 3], seed=0)
        pop, history = train_multi_agent_off_policy(
            env, "tiny", "MATD3", pop, memory, INIT_HP=hp, max_steps=max_steps, evo_steps=100, eval_loop=1,
            tournament=mf, mutation=Mutations(rand_seed=0), verbose=False, seed=3, run_dir=run_dir, resume=resume)
        return pop, history, mf

    pop_full, full, mf_full = run(tmp_path / "full", 500)
    _, part, mf_part = run(tmp_path / "resumed", 200)
    saved = read_manifest(generation_dirs(tmp_path / "resumed")[-1])["selection_state"]
    assert mf_part.generation == saved["generation"] == 1, "the budget's last generation is evolved on resume"
    pop_r, resumed, mf_r = run(tmp_path / "resumed", 500, resume=True)
    np.testing.assert_array_equal(np.array(full), np.array(resumed))
    assert mf_r.generation == mf_full.generation == 4
    assert [m.index for m in pop_r] == [m.index for m in pop_full]


def test_selectable_in_a_config_file(tmp_path):
    from evo_marl.config import load_config
    from evo_marl.experiment import build_selection, run_experiment

    data = {"algo": "MATD3", "population_size": 6, "env": {"id": "tiny/coop_box", "num_envs": 2},
            "net_config": {"hidden_size": [16]}, "init_hp": {"BATCH_SIZE": 32, "LEARN_STEP": 8},
            "selection": {"strategy": "multi_frequency", "frequencies": [1, 2]},
            "training": {"max_steps": 300, "evo_steps": 100, "learning_delay": 32, "eval_loop": 1},
            "output": {"root": str(tmp_path), "plots": False, "checkpoint": False}}
    config = load_config(data)
    strategy = build_selection(config)
    assert isinstance(strategy, MultiFrequencyPBT) and strategy.frequencies == [1, 2]
    _, history, run_dir = run_experiment(config, verbose=False)
    assert len(history) == 3 and "multi_frequency" in (run_dir / "config.yaml").read_text()
    assert load_config(copy.deepcopy(data), ["selection.winners=1", "selection.losers=1"]).selection.winners == 1
    for overrides, match in [
        (["selection.strategy=tournament"], "selection.frequencies=\\[1, 2\\]: applies to strategy multi_frequency"),
        (["selection.frequencies=[3, 1]"], "selection.frequencies=\\[3, 1\\]: must be strictly increasing"),
        (["population_size=5"], "population_size=5: splits into 2 sub-populations of \\[3, 2\\]"),
        (["selection.open_for_migration=-1"], "selection.open_for_migration=-1"),
        (["selection.strategy=multi_frequencies"], "selection.strategy='multi_frequencies': must be one of"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_config(copy.deepcopy(data), overrides)
