"""RolePolicy: a shared-parameter member acts for any agent ids whose spaces match one of its groups."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from evo_marl import create_population, make_env, make_vec_env
from evo_marl.algorithms.roles import RolePolicy
from evo_marl.errors import SpaceError


def _member(algo: str, env_id: str = "atc/random", share: bool = True, **env_kwargs):
    env = make_vec_env(env_id, num_envs=4, seed=0, **env_kwargs)
    member = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                               [env.single_action_space(a) for a in env.agents], {"hidden_size": [16]},
                               {"AGENT_IDS": env.agents, "SHARE_PARAMS": share}, population_size=1, num_envs=4,
                               seed=0)[0]
    member.set_training_mode(False)
    return member, env


@pytest.mark.parametrize("algo", ["IPPO", "MADDPG"])
def test_same_agents_same_actions_as_get_action(algo):
    member, env = _member(algo, num_aircraft=3)
    obs, infos = env.reset(seed=1)
    direct = member.get_action(obs, infos)[0]
    via = RolePolicy(member, env)(obs, infos)
    for a in env.agents:
        np.testing.assert_allclose(via[a], direct[a], atol=1e-6)


@pytest.mark.parametrize("algo", ["IPPO", "MADDPG"])
@pytest.mark.parametrize(("env_id", "kwargs"), [("atc/merge_4all", {}), ("atc/random", {"num_aircraft": [2, 8]})])
def test_acts_for_unseen_agent_ids_by_role(algo, env_id, kwargs):
    member, _ = _member(algo, num_aircraft=3)  # trained on A1..A3
    env = make_vec_env(env_id, num_envs=6, seed=0, **kwargs)
    obs, infos = env.reset(seed=0)
    policy = RolePolicy(member, env)
    env_actions, raw = policy.act(obs, infos)
    assert set(env_actions) == set(env.agents)
    for a in env.agents:
        alone = member.get_action({"A1": obs[a]})[0]["A1"]  # each agent's action is the policy of its own obs
        active = infos["active_mask"][a]
        np.testing.assert_allclose(env_actions[a][active], alone[active], atol=1e-6)
        assert np.all(env_actions[a][~active] == 0) and raw[a].shape == (6, 2)
    assert set(policy.roles.values()) == {"A1"}
    env.step(env_actions)  # a complete action dict for the env


def test_unbatched_observations_of_a_parallel_env():
    member, _ = _member("IPPO", num_aircraft=2)
    env = make_env("atc/cross_4all")
    obs, _ = env.reset(seed=0)
    actions = RolePolicy(member, env)(obs)
    assert set(actions) == set(env.agents) and all(np.shape(v) == (2,) for v in actions.values())
    assert set(RolePolicy(member)(obs)) == set(env.agents)  # without an env: matched by observation size


def test_member_without_parameter_sharing_acts_only_for_its_own_agents():
    member, env = _member("MADDPG", num_aircraft=2, share=False)
    obs, _ = env.reset(seed=0)
    assert set(RolePolicy(member, env)(obs)) == {"A1", "A2"}
    other = make_vec_env("atc/t_formation", num_envs=2, seed=0)
    with pytest.raises(SpaceError, match=r"agent 'A3': .*without parameter sharing"):
        RolePolicy(member, other)(other.reset()[0])


def test_no_matching_group_names_the_agent_and_its_space():
    member, _ = _member("IPPO", num_aircraft=2)
    env = make_vec_env("atc/head_on", num_envs=2, seed=0, neighbor_topk=2)  # 14 observation entries, not 18
    with pytest.raises(SpaceError, match=r"agent 'A1' with observation space Box.*\(14,\).*no parameter-sharing "
                                         r"group of the member matches"):
        RolePolicy(member, env)(env.reset()[0])
    mapping = {"X": (spaces.Box(-1, 1, (18,), np.float32), spaces.Discrete(3))}
    with pytest.raises(SpaceError, match="action space Discrete"):
        RolePolicy(member, mapping).role_of("X")


def test_discrete_action_masks_follow_their_rows():
    member, env = _member("IPPO", "tiny/coop_discrete")
    obs, _ = env.reset(seed=0)
    masks = {a: np.zeros((4, 4), np.int8) for a in env.agents}
    for a in env.agents:
        masks[a][:, 2] = 1  # only action 2 allowed
    renamed = {f"new_{a}": v for a, v in obs.items()}
    infos = {f"new_{a}": {"action_mask": m} for a, m in masks.items()}
    actions = RolePolicy(member, {k: (env.single_observation_space("agent_0"), env.single_action_space("agent_0"))
                                  for k in renamed})(renamed, infos)
    assert all(np.all(v == 2) for v in actions.values())
