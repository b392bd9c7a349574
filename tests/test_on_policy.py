"""On-policy trainer: IPPO populations learn the tiny env; same seed -> same run; resume equals uninterrupted;
stopping criteria; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evo_marl import (ConfigError, ConvergenceCriterion, create_population, make_vec_env,
                      train_multi_agent_off_policy, train_multi_agent_on_policy)
from evo_marl.training.checkpoint import generation_dirs, load_population, read_manifest
from evo_marl.training.evaluation import run_episodes
from conftest import make_tiny_population

MUT_P = {"NO_MUT": 0.2, "ARCH_MUT": 0.2, "PARAMS_MUT": 0.2, "ACT_MUT": 0.2, "RL_HP_MUT": 0.2}


def _ippo_population(scenario: str, pop_size: int = 2, num_envs: int = 8, seed: int = 0, **hp):
    env = make_vec_env(f"tiny/{scenario}", num_envs=num_envs, seed=seed)
    init_hp = {"LR": 3e-3, "LEARN_STEP": 16 * num_envs, "BATCH_SIZE": 64, "GAMMA": 0.9, "AGENT_IDS": env.agents, **hp}
    pop = create_population("IPPO", [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [32, 32]}, init_hp,
                            population_size=pop_size, num_envs=num_envs, seed=seed)
    return env, pop, init_hp


@pytest.mark.parametrize("scenario,max_steps,random_level,precision", [
    ("coop_discrete", 3000, -6.0, "float32"),       # Discrete(4): one categorical
    ("coop_multidiscrete", 4000, -4.7, "float32"),  # MultiDiscrete([3, 2]): a categorical per segment
    ("coop_box", 6000, -8.7, "float32"),            # Box: Gaussian with a learned log-std
    ("coop_box", 6000, -8.7, "bfloat16"),           # mixed-precision learning (tests/test_mixed_precision.py)
])
def test_ippo_population_learns_tiny_env(tmp_path, scenario, max_steps, random_level, precision):
    threshold = -0.5
    env, pop, hp = _ippo_population(scenario, seed=1)
    untrained = pop[0]
    untrained.set_training_mode(False)
    before = run_episodes(lambda o, i: untrained.get_action(o, i)[0], env.spawn(16), seed=0).returns.mean()
    pop, history = train_multi_agent_on_policy(env, "tiny", "IPPO", pop, INIT_HP=hp, max_steps=max_steps,
                                               evo_steps=1000, eval_loop=16, target=-0.3, seed=7,
                                               run_dir=tmp_path / "run", verbose=False, precision=precision)
    assert before < threshold, f"an untrained member should be far from the optimum (got {before})"
    assert max(history[-1]) > threshold, f"IPPO ({precision}) on {scenario}: {history} (random ~{random_level})"
    assert np.isfinite(history).all()


def _run(run_dir, max_steps, resume=False, seed=11, scenario="coop_box", stopping=None):
    env, pop, hp = _ippo_population(scenario, pop_size=3, num_envs=4, seed=0, LEARN_STEP=32, BATCH_SIZE=16)
    return train_multi_agent_on_policy(env, "tiny", "IPPO", pop, INIT_HP=hp, MUT_P=MUT_P, max_steps=max_steps,
                                       evo_steps=48, eval_loop=4, seed=seed, run_dir=run_dir, resume=resume,
                                       stopping=stopping, verbose=False)


def _state(pop):
    out = []
    for m in pop:
        tensors = {f"{n}.{k}": v.clone() for n, net in m.networks.items() for k, v in net.state_dict().items()}
        tensors.update({f"log_std.{g}": p.detach().clone() for g, p in m.log_stds.items()})
        out.append(tensors)
    return out


def _assert_same_weights(pop_a, pop_b):
    for wa, wb in zip(_state(pop_a), _state(pop_b)):
        assert wa.keys() == wb.keys()
        for key in wa:
            assert torch.equal(wa[key], wb[key]), key


def test_same_seed_gives_identical_history_and_weights(tmp_path):
    pop_a, hist_a = _run(tmp_path / "a", 144)
    pop_b, hist_b = _run(tmp_path / "b", 144)
    assert len(hist_a) == 3
    np.testing.assert_array_equal(np.array(hist_a), np.array(hist_b))
    _assert_same_weights(pop_a, pop_b)
    assert [m.hyperparameters() for m in pop_a] == [m.hyperparameters() for m in pop_b]
    _, hist_c = _run(tmp_path / "c", 144, seed=12)
    assert not np.array_equal(np.array(hist_a), np.array(hist_c)), "another seed should give another run"


def test_resume_equals_uninterrupted_run(tmp_path):
    _, full = _run(tmp_path / "full", 192)
    _, part = _run(tmp_path / "resumed", 96)
    assert len(part) == 2
    manifest = read_manifest(generation_dirs(tmp_path / "resumed")[-1])
    assert manifest["has_buffer"] is False, "on-policy checkpoints hold no replay buffer"
    pop_r, resumed = _run(tmp_path / "resumed", 192, resume=True)
    np.testing.assert_array_equal(np.array(full), np.array(resumed))
    _assert_same_weights(load_population(generation_dirs(tmp_path / "full")[-1]), pop_r)
    rows = (tmp_path / "resumed" / "generations.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4, "a resumed run must not duplicate or lose metric rows"


def test_convergence_criterion_stops_an_on_policy_run(tmp_path):
    criterion = ConvergenceCriterion(target=-1e9, window=2, patience=2)  # met as soon as the window is full
    _, history = _run(tmp_path / "run", 48 * 20, scenario="coop_discrete", stopping=[criterion])
    assert len(history) == 3, "window 2 is full after generation 2; patience 2 stops after generation 3"
    manifest = read_manifest(generation_dirs(tmp_path / "run")[-1])
    assert manifest["stop_reason"] == "convergence"


def test_convergence_criterion_is_accepted_by_the_off_policy_trainer(tmp_path):
    env, pop, memory, hp = make_tiny_population("MADDPG", "coop_discrete", pop_size=2, num_envs=4)
    criterion = ConvergenceCriterion(target=-1e9, window=1, patience=2)
    _, history = train_multi_agent_off_policy(env, "tiny", "MADDPG", pop, memory, INIT_HP=hp, max_steps=2000,
                                              evo_steps=100, eval_loop=2, seed=0, run_dir=tmp_path / "run",
                                              stopping=[criterion], verbose=False)
    assert len(history) == 2


def test_on_policy_trainer_rejects_off_policy_populations_and_bad_settings(tmp_path):
    env, pop, memory, hp = make_tiny_population("MADDPG", "coop_box", pop_size=2, num_envs=4)
    with pytest.raises(ConfigError, match=r"pop='MADDPG': is not an on-policy algorithm; train it with "
                                          r"train_multi_agent_off_policy"):
        train_multi_agent_on_policy(env, "tiny", "MADDPG", pop, run_dir=tmp_path / "a", verbose=False)
    env, pop, hp = _ippo_population("coop_box", num_envs=4)
    with pytest.raises(ConfigError, match=r"pop='IPPO': is not an off-policy algorithm"):
        train_multi_agent_off_policy(env, "tiny", "IPPO", pop, memory, run_dir=tmp_path / "b", verbose=False)
    with pytest.raises(ConfigError, match=r"evo_steps=0: must be an integer >= 1"):
        train_multi_agent_on_policy(env, "tiny", "IPPO", pop, evo_steps=0, run_dir=tmp_path / "c", verbose=False)
    with pytest.raises(ConfigError, match=r"env.num_envs=3: must be num_envs \(4"):
        train_multi_agent_on_policy(make_vec_env("tiny/coop_box", 3), "tiny", "IPPO", pop,
                                    run_dir=tmp_path / "d", verbose=False)
