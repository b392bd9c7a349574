"""The population's actors as one stack act exactly as each member's evaluation-mode ``get_action``."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_tiny_population

from evo_marl.errors import ConfigError
from evo_marl.population.greedy import StackedGreedyPolicy

ENVS = 3


def _diverse(algo: str, scenario: str, share_params: bool):
    extra = {"BATCH_SIZE": 8} if algo == "IPPO" else {}
    env, pop, _, _ = make_tiny_population(algo, scenario, pop_size=4, num_envs=ENVS, SHARE_PARAMS=share_params,
                                          **extra)
    rng = np.random.default_rng(0)
    group = list(pop[0].groups)[0]
    pop[1].mutate_architecture(f"actor/{group}", "add_node", rng)
    pop[2].mutate_architecture(f"actor/{group}", "add_layer", rng)
    for member in pop:
        member.set_training_mode(False)
    return env, pop


@pytest.mark.parametrize("share_params", [False, True])
@pytest.mark.parametrize("scenario", ["coop_box", "coop_discrete", "coop_multidiscrete"])
@pytest.mark.parametrize("algo", ["MADDPG", "MATD3", "IPPO"])
def test_stacked_actions_equal_each_members_own(algo, scenario, share_params):
    env, pop = _diverse(algo, scenario, share_params)
    sel = [2, 0, 3]  # any subset, in any order
    rng = np.random.default_rng(1)
    obs = {a: rng.normal(size=(len(sel) * ENVS, *env.single_observation_space(a).shape)).astype(np.float32)
           for a in env.agents}
    infos = None
    if scenario != "coop_box":  # random action masks, at least one allowed action per row
        infos = {}
        for a in env.agents:
            dim = pop[0].codecs[a].raw_dim
            mask = rng.random((len(sel) * ENVS, dim)) < 0.6
            mask[np.arange(len(mask)), rng.integers(0, dim, len(mask))] = True
            infos[a] = {"action_mask": mask.astype(np.int8)}
    stacked = StackedGreedyPolicy(pop).act(sel, obs, infos)
    differ = False
    for s, k in enumerate(sel):
        rows = slice(s * ENVS, (s + 1) * ENVS)
        own_infos = None if infos is None else {a: {"action_mask": v["action_mask"][rows]} for a, v in infos.items()}
        own, _ = pop[k].get_action({a: o[rows] for a, o in obs.items()}, own_infos)
        for agent in env.agents:
            np.testing.assert_allclose(stacked[agent][rows], own[agent], rtol=1e-5, atol=1e-6)
            differ |= s > 0 and not np.array_equal(stacked[agent][rows], stacked[agent][:ENVS])
    assert differ, "members act differently, so the check can fail"


def test_a_population_that_cannot_be_stacked_is_refused_with_the_field_named():
    _, maddpg = _diverse("MADDPG", "coop_box", False)
    _, ippo = _diverse("IPPO", "coop_box", False)
    with pytest.raises(ConfigError, match="population"):
        StackedGreedyPolicy([maddpg[0], ippo[0]])
    with pytest.raises(ConfigError, match="population"):
        StackedGreedyPolicy([object()])
