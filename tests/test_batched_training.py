"""Training with batched learning: the same run as member-by-member learning (to float tolerance), a fall-back
when the batched path fails, and the switch's input checks."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from conftest import make_tiny_population
from evo_marl import create_population, make_vec_env, train_multi_agent_off_policy, train_multi_agent_on_policy
from evo_marl.errors import ConfigError
from evo_marl.population.off_policy import StackedOffPolicy
from evo_marl.training.settings import RunSettings


def _train(algo: str, batched: bool, tmp_path, steps: int = 400):
    common = dict(max_steps=steps, evo_steps=steps, eval_loop=2, seed=5, checkpoint=False, verbose=False,
                  run_dir=tmp_path / f"{algo}_{batched}", batched_learning=batched)
    if algo == "IPPO":
        env = make_vec_env("tiny/coop_box", num_envs=4, seed=0)
        hp = {"LEARN_STEP": 64, "BATCH_SIZE": 32, "AGENT_IDS": env.agents}
        pop = create_population("IPPO", [env.single_observation_space(a) for a in env.agents],
                                [env.single_action_space(a) for a in env.agents], {"hidden_size": [32, 32]}, hp,
                                population_size=3, num_envs=4, seed=0)
        return train_multi_agent_on_policy(env, "tiny", "IPPO", pop, INIT_HP=hp, **common)
    env, pop, memory, hp = make_tiny_population(algo, "coop_box", pop_size=3, num_envs=4, seed=0)
    return train_multi_agent_off_policy(env, "tiny", algo, pop, memory, INIT_HP=hp, learning_delay=64, **common)


@pytest.mark.parametrize("algo", ["MATD3", "IPPO"])
def test_batched_generation_equals_member_by_member(algo, tmp_path):
    """Acting and learning through the stacks for a whole generation: same updates, same weights to float
    tolerance, same evaluation."""
    alone, history_alone = _train(algo, False, tmp_path)
    stacked, history_stacked = _train(algo, True, tmp_path)
    np.testing.assert_allclose(history_stacked, history_alone, rtol=1e-5)
    for a, b in zip(alone, stacked):
        assert a.learn_counter == b.learn_counter > 0
        for name in a.networks:
            for p, q in zip(a.networks[name].parameters(), b.networks[name].parameters()):
                torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)


def test_batched_learning_falls_back_to_member_by_member(tmp_path, monkeypatch, caplog):
    def broken(self, *args, **kwargs):
        raise RuntimeError("stack exploded")

    monkeypatch.setattr(StackedOffPolicy, "learn", broken)
    with caplog.at_level(logging.WARNING):
        pop, history = _train("MATD3", True, tmp_path)
    assert "batched learning failed (RuntimeError: stack exploded)" in caplog.text
    assert all(m.learn_counter > 0 and not m.failed for m in pop)  # they learned one by one
    assert np.isfinite(history).all()


def test_batched_learning_settings_are_checked():
    with pytest.raises(ConfigError, match="stack_grouping='depth': must be one of"):
        RunSettings(env_name="x", stack_grouping="depth")
    with pytest.raises(ConfigError, match="batched_learning='yes'"):
        RunSettings(env_name="x", batched_learning="yes")


def test_config_switch_reaches_the_run_settings():
    from pathlib import Path

    from evo_marl.config import load_config
    from evo_marl.experiment import run_settings

    path = Path(__file__).resolve().parents[1] / "configs" / "tiny_matd3.yaml"
    assert run_settings(load_config(path)).batched_learning is True
    settings = run_settings(load_config(path, ["training.batched_learning=false", "training.stack_grouping=shape"]))
    assert (settings.batched_learning, settings.stack_grouping) == (False, "shape")
    with pytest.raises(ConfigError, match="training.stack_grouping"):
        load_config(path, ["training.stack_grouping=widest"])
