"""Learning tests: MATD3 and MADDPG populations reach near-optimal fitness on the tiny env (optimum 0)."""

from __future__ import annotations

import numpy as np
import pytest

from evo_marl import train_multi_agent_off_policy
from evo_marl.training.evaluation import run_episodes
from conftest import make_tiny_population


@pytest.mark.parametrize("algo,scenario,threshold,random_level,precision", [
    ("MATD3", "coop_box", -0.5, -8.7, "float32"),            # continuous actions
    ("MADDPG", "coop_discrete", -0.5, -6.0, "float32"),      # Gumbel-softmax, Discrete(4)
    ("MATD3", "coop_multidiscrete", -0.5, -4.7, "float32"),  # Gumbel-softmax per segment, MultiDiscrete([3, 2])
    ("MATD3", "coop_box", -0.5, -8.7, "bfloat16"),           # mixed-precision learning (tests/test_mixed_precision.py)
    ("MADDPG", "coop_discrete", -0.5, -6.0, "bfloat16"),
])
def test_population_learns_tiny_env(tmp_path, algo, scenario, threshold, random_level, precision):
    env, pop, memory, hp = make_tiny_population(algo, scenario, pop_size=2, num_envs=8, seed=1,
                                                LR_ACTOR=3e-3, LR_CRITIC=3e-3)
    untrained = pop[0]
    untrained.set_training_mode(False)
    before = run_episodes(lambda o, i: untrained.get_action(o, i)[0], env.spawn(16), seed=0).returns.mean()
    pop, history = train_multi_agent_off_policy(
        env, "tiny", algo, pop, memory, INIT_HP=hp, max_steps=3000, evo_steps=1000, eval_loop=16,
        learning_delay=256, seed=7, run_dir=tmp_path / "run", verbose=False, precision=precision)
    last = max(history[-1])
    assert before < threshold, f"an untrained member should be far from the optimum (got {before})"
    assert last > threshold, (f"{algo} ({precision}) on {scenario}: best fitness {last} after training "
                              f"(random ~{random_level})")
    assert np.isfinite(history).all()
