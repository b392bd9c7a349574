"""IPPO member and rollout buffer: GAE, truncation bootstrapping, spaces, sharing, checkpoints, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from evo_marl import ConfigError, SpaceError, create_population, make_vec_env
from evo_marl.algorithms.ippo import IPPO
from evo_marl.buffers.rollout import RolloutBuffer, compute_gae
from evo_marl.hpo.parameters import HyperparameterConfig, RLParameter

BOX_OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
SCENARIO_ACTIONS = {"coop_box": spaces.Box, "coop_discrete": spaces.Discrete,
                    "coop_multidiscrete": spaces.MultiDiscrete}


def _member(scenario: str = "coop_box", num_envs: int = 4, **kwargs) -> tuple[IPPO, object]:
    env = make_vec_env(f"tiny/{scenario}", num_envs=num_envs, seed=0)
    hp = {"learn_step": 8 * num_envs, "lr": 1e-3, **kwargs}
    member = create_population("IPPO", [env.single_observation_space(a) for a in env.agents],
                               [env.single_action_space(a) for a in env.agents], {"hidden_size": [16]}, hp,
                               num_envs=num_envs, agent_ids=env.agents, seed=3)[0]
    return member, env


def _fill(member: IPPO, env, steps: int | None = None) -> RolloutBuffer:
    """A rollout of ``steps`` vector steps collected the way the on-policy phase does."""
    lead = {g: agents[0] for g, agents in member.groups.items()}
    buf = RolloutBuffer(member.rollout_steps, env.num_envs, member.agent_ids, member.groups,
                        {g: member.obs_dims[a] for g, a in lead.items()},
                        {g: member.codecs[a].raw_dim for g, a in lead.items()})
    obs, infos = env.reset(seed=1)
    stack = lambda d: np.stack([d[a] for a in env.agents], axis=1)  # noqa: E731
    for _ in range(steps or member.rollout_steps):
        step = member.act(obs, infos)
        obs, rew, term, trunc, infos = env.step(step.env_actions)
        tv = member.truncation_values(infos["final_observation"], stack(term), stack(trunc))
        buf.add(step.obs, step.actions, step.log_probs, step.values, stack(rew), stack(term), stack(trunc),
                np.ones((env.num_envs, len(env.agents)), bool), tv, step.action_masks)
    buf.set_last_obs(member.group_obs(obs))
    return buf


# ----------------------------------------------------------------------------- GAE
def _naive_gae(r, v, term, trunc, last, tv, gamma, lam):
    """Scalar reference: one env, one agent at a time."""
    adv = np.zeros_like(r, dtype=np.float64)
    steps, envs, agents = r.shape
    for e in range(envs):
        for a in range(agents):
            gae = 0.0
            for t in reversed(range(steps)):
                if term[t, e, a]:
                    target, gae_next = r[t, e, a], 0.0
                elif trunc[t, e, a]:
                    target, gae_next = r[t, e, a] + gamma * tv[t, e, a], 0.0
                else:
                    nxt = last[e, a] if t == steps - 1 else v[t + 1, e, a]
                    target, gae_next = r[t, e, a] + gamma * nxt, gae
                gae = target - v[t, e, a] + gamma * lam * gae_next
                adv[t, e, a] = gae
    return adv


def test_vectorised_gae_matches_scalar_reference():
    rng = np.random.default_rng(0)
    shape = (12, 5, 3)
    r, v, tv = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
    term, trunc = rng.random(shape) < 0.1, rng.random(shape) < 0.15
    last = rng.normal(size=shape[1:])
    adv, ret = compute_gae(r, v, term, trunc, last, 0.97, 0.9, tv)
    np.testing.assert_allclose(adv, _naive_gae(r, v, term, trunc, last, tv, 0.97, 0.9), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, adv + v, rtol=1e-5, atol=1e-5)


def test_truncation_bootstraps_from_final_value_and_termination_does_not():
    r = np.ones((2, 1, 2), np.float32)
    v = np.zeros_like(r)
    term = np.array([[[True, False]], [[False, False]]])
    trunc = np.array([[[False, True]], [[False, False]]])
    tv = np.full_like(r, 10.0)  # V(final obs); must be used only where truncated
    adv, _ = compute_gae(r, v, term, trunc, np.full((1, 2), 100.0), gamma=0.5, gae_lambda=1.0, truncation_values=tv)
    assert adv[0, 0, 0] == pytest.approx(1.0)          # terminated: no bootstrap at all
    assert adv[0, 0, 1] == pytest.approx(1.0 + 0.5 * 10.0)  # truncated: V(final obs), not the next episode
    assert adv[1, 0, 0] == pytest.approx(1.0 + 0.5 * 100.0)  # rollout end: V(last obs)


def test_buffer_rejects_overflow_and_incomplete_groups():
    buf = RolloutBuffer(1, 2, ["a", "b"], {"a": ["a", "b"]}, {"a": 3}, {"a": 2})
    z = np.zeros((2, 2), np.float32)
    buf.add({"a": np.zeros((2, 2, 3))}, {"a": np.zeros((2, 2, 2))}, z, z, z, z > 0, z > 0, z == 0)
    with pytest.raises(ConfigError, match="rollout is full"):
        buf.add({"a": np.zeros((2, 2, 3))}, {"a": np.zeros((2, 2, 2))}, z, z, z, z > 0, z > 0, z == 0)
    with pytest.raises(ConfigError, match="must cover every agent"):
        RolloutBuffer(4, 2, ["a", "b"], {"a": ["a"]}, {"a": 3}, {"a": 2})


def test_phase_style_truncation_values_use_the_true_final_observation():
    member, env = _member("coop_discrete")
    seen = []
    original = member.truncation_values
    member.truncation_values = lambda final, term, trunc: seen.append((final, trunc)) or original(final, term, trunc)
    _fill(member, env, steps=8)
    final, trunc = seen[3]  # tiny episodes last 4 steps: step 4 truncates every sub-env
    assert trunc.all()
    assert np.allclose(final["agent_0"][:, -1], 1.0), "final obs has progress 1; a reset obs would have 0"


# ----------------------------------------------------------------------------- acting and learning
@pytest.mark.parametrize("scenario", list(SCENARIO_ACTIONS))
def test_actions_log_probs_and_learning_for_every_action_space(scenario):
    member, env = _member(scenario, batch_size=16, update_epochs=2)
    obs, infos = env.reset(seed=0)
    env_actions, raw = member.get_action(obs, infos)
    space = env.single_action_space("agent_0")
    for agent in env.agents:
        assert all(space.contains(np.asarray(a, space.dtype).reshape(space.shape)) for a in env_actions[agent])
        assert raw[agent].shape == (env.num_envs, member.codecs[agent].raw_dim)
    buf = _fill(member, env)
    # stored log-probs are the log-probs of the stored actions under the rollout policy
    group = next(iter(member.groups))
    x = torch.from_numpy(buf.obs[group][0].reshape(-1, buf.obs[group].shape[-1]))
    with torch.no_grad():
        logp, entropy = member._log_prob_entropy(group, member.networks[f"actor/{group}"](x),
                                                 torch.from_numpy(buf.actions[group][0].reshape(x.shape[0], -1)))
    np.testing.assert_allclose(logp.numpy(), buf.log_probs[0][:, member._columns[group]].reshape(-1), atol=1e-5)
    assert (entropy > 0).all()
    before = {k: v.clone() for k, v in member.networks[f"actor/{group}"].state_dict().items()}
    losses = member.learn(buf)
    assert {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"} <= set(losses)
    assert losses["updates"] == 2 * (8 * 4 // 16)
    assert np.isfinite(list(losses.values())).all()
    after = member.networks[f"actor/{group}"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert member.learn_counter == 1


def test_evaluation_mode_is_deterministic_and_training_mode_explores():
    member, env = _member("coop_box")
    obs, _ = env.reset(seed=0)
    member.set_training_mode(False)
    a1, _ = member.get_action(obs)
    a2, _ = member.get_action(obs)
    np.testing.assert_array_equal(a1["agent_0"], a2["agent_0"])
    member.set_training_mode(True)
    b1, _ = member.get_action(obs)
    assert not np.allclose(b1["agent_0"], a1["agent_0"])
    single, _ = member.get_action({a: obs[a][0] for a in env.agents})  # unbatched observations
    assert single["agent_0"].shape == (2,)


def test_action_masks_are_respected_when_sampling():
    member, env = _member("coop_discrete")
    obs, _ = env.reset(seed=0)
    mask = np.zeros((env.num_envs, 4), np.int8)
    mask[:, 2] = 1
    infos = {a: {"action_mask": mask} for a in env.agents}
    for _ in range(5):
        actions, _ = member.get_action(obs, infos)
        assert (actions["agent_0"] == 2).all() and (actions["agent_1"] == 2).all()


def test_target_kl_stops_the_update_early():
    member, env = _member("coop_discrete", batch_size=8, update_epochs=10, target_kl=1e-9, lr=1e-2)
    losses = member.learn(_fill(member, env))
    assert 1 <= losses["updates"] < 10 * 4


def test_parameter_sharing_builds_one_actor_and_critic_per_group():
    shared, _ = _member("coop_box", share_params=True)
    separate, _ = _member("coop_box")
    assert sorted(shared.networks) == ["actor/agent_0", "critic/agent_0"]
    assert sorted(separate.networks) == ["actor/agent_0", "actor/agent_1", "critic/agent_0", "critic/agent_1"]
    assert shared.groups == {"agent_0": ["agent_0", "agent_1"]}


# ----------------------------------------------------------------------------- evolution and checkpoints
def test_state_dict_round_trip_keeps_log_std_and_optimizer_state():
    member, env = _member("coop_box", batch_size=16)
    member.learn(_fill(member, env))
    with torch.no_grad():
        member.log_stds["agent_0"].fill_(-1.234)
    twin = member.clone(index=9)
    assert torch.equal(twin.log_stds["agent_0"], member.log_stds["agent_0"])
    assert twin.log_stds["agent_0"] is not member.log_stds["agent_0"]
    actor_opt = twin.optimizers["actor/agent_0"]
    assert any(p is twin.log_stds["agent_0"] for g in actor_opt.param_groups for p in g["params"])
    assert actor_opt.state_dict()["state"], "Adam moments must survive cloning"
    mine = member.optimizers["actor/agent_0"].state[member.log_stds["agent_0"]]["exp_avg"]
    theirs = actor_opt.state[twin.log_stds["agent_0"]]["exp_avg"]
    assert torch.equal(mine, theirs) and mine.data_ptr() != theirs.data_ptr(), "a clone must not share Adam moments"
    obs, _ = env.reset(seed=0)
    member.set_training_mode(False)
    twin.set_training_mode(False)
    np.testing.assert_array_equal(member.get_action(obs)[0]["agent_0"], twin.get_action(obs)[0]["agent_0"])


def test_lr_mutation_updates_optimizers_in_place_and_architecture_mutation_keeps_log_std():
    member, env = _member("coop_box", batch_size=16)
    member.learn(_fill(member, env))
    opt = member.optimizers["actor/agent_0"]
    member.set_hyperparameter("lr", 5e-4)
    assert member.optimizers["actor/agent_0"] is opt and opt.state_dict()["state"]
    assert all(g["lr"] == 5e-4 for o in member.optimizers.values() for g in o.param_groups)
    member.mutate_architecture("actor/agent_0", "add_node", np.random.default_rng(0))
    opt = member.optimizers["actor/agent_0"]
    assert any(p is member.log_stds["agent_0"] for g in opt.param_groups for p in g["params"])
    member.learn(_fill(member, env))  # still learns after the rebuild


def test_batch_size_mutations_stay_within_the_rollout():
    member, _ = _member("coop_box", num_envs=4, learn_step=32)
    member.set_hyperparameter("batch_size", 1000)
    assert member.batch_size == 32
    member.set_hyperparameter("learn_step", 8)
    assert member.batch_size == 8
    member.clone()  # the constructor's consistency check holds for mutated values


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,message", [
    ({"batch_size": 64, "learn_step": 32}, r"batch_size=64: must be <= rollout_steps x num_envs = 8 x 4 = 32"),
    ({"num_minibatches": 5, "learn_step": 32},
     r"num_minibatches=5: must divide rollout_steps x num_envs = 8 x 4 = 32"),
    ({"batch_size": 16, "num_minibatches": 4, "learn_step": 32},
     r"batch_size=16: is inconsistent with num_minibatches=4: rollout_steps x num_envs / num_minibatches = 32 / 4 = 8"),
    ({"batch_size": 16, "minibatch_size": 8}, r"minibatch_size=8: is an alias of batch_size and must equal it"),
    ({"gamma": 1.5}, r"gamma=1.5: must be a finite number in \[0, 1\]"),
    ({"gae_lambda": -0.1}, r"gae_lambda=-0.1: must be a finite number in \[0, 1\]"),
    ({"clip_coef": 0.0}, r"clip_coef=0.0: must be a finite number in \(0, 10\]"),
    ({"lr": -1e-3}, r"lr=-0.001: must be a finite number in \(0, 1\]"),
    ({"ent_coef": -0.01}, r"ent_coef=-0.01: must be a finite number in \[0, 1000"),
    ({"update_epochs": 0}, r"update_epochs=0: must be an integer in \[1, 10000"),
    ({"target_kl": 0}, r"target_kl=0: must be None or a finite number in \(0, 1000"),
    ({"action_std_init": 0}, r"action_std_init=0: must be a finite number in \(0, 1000"),
    ({"clip_vloss": "yes"}, r"clip_vloss='yes': must be true or false"),
])
def test_invalid_arguments_name_field_value_and_rule(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        IPPO([BOX_OBS], [spaces.Discrete(2)], num_envs=4, **kwargs)


def test_num_minibatches_derives_the_batch_size():
    assert IPPO([BOX_OBS], [spaces.Discrete(2)], num_envs=4, learn_step=32, num_minibatches=4).batch_size == 8


def test_learn_step_counts_env_transitions_as_for_the_off_policy_algorithms():
    member = IPPO([BOX_OBS], [spaces.Discrete(2)], num_envs=8, learn_step=100)
    assert member.rollout_steps == 13  # ceil(100 / 8) vector steps


@pytest.mark.parametrize("obs_space,act_space,message", [
    (BOX_OBS, spaces.Tuple((spaces.Discrete(2),)),
     r"action_space\[agent_0\]=Tuple.*unsupported; use Box, Discrete or MultiDiscrete"),
    (spaces.Dict({"x": BOX_OBS}), spaces.Discrete(2), r"observation_space\[agent_0\]=Dict.*unsupported"),
    (BOX_OBS, spaces.Box(-np.inf, np.inf, (2,)), r"Box actions need finite low and high bounds"),
])
def test_unsupported_spaces_are_rejected(obs_space, act_space, message):
    with pytest.raises(SpaceError, match=message):
        IPPO([obs_space], [act_space])


def test_mutating_a_non_numeric_hyperparameter_is_rejected():
    with pytest.raises(ConfigError, match=r"hp_config.target_kl=.*target_kl is None \(off\) in this member"):
        IPPO([BOX_OBS], [spaces.Discrete(2)], hp_config=HyperparameterConfig(target_kl=RLParameter(0.01, 0.1)))


def test_learn_needs_a_filled_rollout_buffer():
    member, env = _member("coop_discrete")
    with pytest.raises(ConfigError, match="IPPO.learn needs a filled RolloutBuffer"):
        member.learn({"obs": {}})
    empty = _fill(member, env)
    empty.reset()
    with pytest.raises(ConfigError, match="holds no steps"):
        member.learn(empty)
