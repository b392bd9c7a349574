"""The mpe2 family's lean ParallelEnv equals mpe2's own PettingZoo wrapper stack, step for step."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mpe2")

from pettingzoo.test import parallel_api_test  # noqa: E402

from evo_marl import make_env  # noqa: E402
from evo_marl.envs.mpe import KNOWN_TASKS, CycleParallelEnv, parallel_env  # noqa: E402
from evo_marl.errors import EnvError  # noqa: E402


def _actions(env, rng, wide: bool) -> dict:
    out = {}
    for agent in env.agents:
        space = env.action_space(agent)
        if hasattr(space, "n"):
            out[agent] = int(rng.integers(space.n))
        else:  # half of them outside [0, 1]: both envs must clip them the same way
            out[agent] = rng.uniform(-0.5, 1.5, space.shape).astype(space.dtype) if wide else space.sample()
    return out


@pytest.mark.parametrize("continuous", [True, False])
@pytest.mark.parametrize("task", KNOWN_TASKS)
def test_lean_env_equals_the_pettingzoo_wrappers(task, continuous):
    lean = parallel_env(task, continuous_actions=continuous, max_cycles=8)
    wrapped = parallel_env(task, continuous_actions=continuous, max_cycles=8, lean=False)
    assert isinstance(lean, CycleParallelEnv) and not isinstance(wrapped, CycleParallelEnv)
    rng = np.random.default_rng(0)
    for episode in range(2):
        got, want = lean.reset(seed=episode), wrapped.reset(seed=episode)
        while True:
            for a, b in zip(got, want):
                assert a.keys() == b.keys()
                for agent in b:
                    np.testing.assert_array_equal(a[agent], b[agent])
            if not wrapped.agents:
                assert not lean.agents
                break
            assert lean.agents == wrapped.agents
            actions = _actions(wrapped, rng, wide=episode == 1)
            got, want = lean.step(actions), wrapped.step(actions)


def test_lean_env_passes_the_parallel_api_test():
    parallel_api_test(make_env("mpe2/simple_speaker_listener_v4"), num_cycles=30)
    parallel_api_test(make_env("mpe2/simple_spread_v3", continuous_actions=False), num_cycles=30)


def test_discrete_action_outside_its_space_is_a_named_error():
    env = parallel_env("simple_v3", continuous_actions=False)
    env.reset(seed=0)
    with pytest.raises(EnvError, match=r"action 7 of agent 'agent_0' is outside its space Discrete\(5\)"):
        env.step({"agent_0": 7})
