"""Population-batched learning equals per-member learning (weights, targets, optimizer state, RNG streams).

Members are diversified first: architecture mutations (so stacks need padding or several shapes),
different learning rates, batch sizes, discounts, target rates, Huber thresholds, policy frequencies and,
for IPPO, clipping, epochs, minibatch sizes, gradient clipping and an early ``target_kl`` stop.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from conftest import make_tiny_population
from evo_marl import create_population, make_vec_env
from evo_marl.buffers.rollout import RolloutBuffer
from evo_marl.population.off_policy import StackedOffPolicy, stacked_batch
from evo_marl.population.on_policy import StackedPPO


def assert_weights_close(actual: torch.Tensor, expected: torch.Tensor, what: str, max_fraction: float = 0.005) -> None:
    """Equal to float tolerance, except for at most ``max_fraction`` of the elements: Adam divides by the
    gradient's own scale, so a gradient element near zero whose sign the summation order decides (batched
    matmuls add in another order than one member's) moves by up to +-lr. Every other element must match to
    1e-5 absolute: a thirtieth of one Adam step (lr >= 3e-4 here), above the ~1e-6 rounding a few
    steps of reordered float32 sums leave on weights of size 1e-3."""
    off = ~torch.isclose(actual, expected, rtol=1e-5, atol=1e-5)
    allowed = max(1, int(max_fraction * off.numel())) if off.numel() >= 100 else 0
    assert int(off.sum()) <= allowed, (f"{what}: {int(off.sum())} of {off.numel()} elements differ (allowed {allowed}); "
                                       f"largest difference {float((actual - expected).abs().max()):.3g}")


def assert_same_members(a, b) -> None:
    """Weights, targets and Adam states equal to float tolerance; counters and RNG streams exactly."""
    sa, sb = a.state_dict(), b.state_dict()
    for part in ("networks", "targets"):
        for name in sa[part]:
            for key, value in sa[part][name].items():
                assert_weights_close(sb[part][name][key], value, f"{part}/{name}/{key}")
    for name, opt in sa["optimizers"].items():
        assert sorted(opt["state"]) == sorted(sb["optimizers"][name]["state"]), name
        for pid, state in opt["state"].items():
            for key, value in state.items():
                torch.testing.assert_close(sb["optimizers"][name]["state"][pid][key], value, rtol=1e-4, atol=1e-7,
                                           msg=f"optimizer {name}/{pid}/{key}")
    for group, value in sa["extra"].get("log_std", {}).items():
        torch.testing.assert_close(sb["extra"]["log_std"][group], value, rtol=1e-5, atol=1e-6)
    assert a.learn_counter == b.learn_counter
    assert torch.equal(a.torch_gen.get_state(), b.torch_gen.get_state())
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


def max_weight_change(before, after) -> float:
    return max(float((p - q).detach().abs().max()) for n in before.networks
               for p, q in zip(before.networks[n].parameters(), after.networks[n].parameters()))


def filled_memory(env, member, steps: int = 100):
    _, _, memory, _ = make_tiny_population(member.algo_name, "coop_box")
    memory.clear()
    obs, _ = env.reset(seed=0)
    for _ in range(steps):
        env_act, raw = member.get_action(obs)
        next_obs, rewards, terms, truncs, _ = env.step(env_act)
        active = {a: np.ones(len(terms[a]), bool) for a in terms}
        memory.save_to_memory(obs, raw, rewards, next_obs, terms, active, is_vectorised=True)
        obs = next_obs
    return memory


def diversify_off_policy(pop) -> None:
    rng = np.random.default_rng(1)
    a0, a1 = list(pop[0].groups)[0], list(pop[0].groups)[-1]
    pop[1].mutate_architecture(f"actor/{a0}", "add_node", rng)
    pop[2].mutate_architecture(f"critic/{a1}", "add_layer", rng)
    pop[3].mutate_architecture(f"actor/{a1}", "remove_node", rng)
    pop[1].set_hyperparameter("lr_actor", 3e-3)
    pop[2].set_hyperparameter("gamma", 0.5)
    pop[3].set_hyperparameter("tau", 0.1)
    pop[1].set_hyperparameter("batch_size", 32)
    pop[3].set_hyperparameter("batch_size", 48)
    pop[2].set_hyperparameter("huber_delta", 0.3)
    pop[3].set_hyperparameter("policy_freq", 2)
    pop[0].set_hyperparameter("reward_scale", 0.5)
    pop[1].set_hyperparameter("target_noise", 0.05)
    pop[3].set_hyperparameter("action_l2", 0.5)


@pytest.mark.parametrize("algo,scenario,share,grouping,expected_pg", [
    ("MADDPG", "coop_box", False, "pad", False), ("MATD3", "coop_box", True, "pad", False),
    ("MADDPG", "coop_discrete", False, "pad", False), ("MATD3", "coop_multidiscrete", False, "pad", False),
    ("MATD3", "coop_box", False, "shape", False), ("MATD3", "coop_multidiscrete", True, "pad", True),
    ("MADDPG", "coop_box", False, "auto", False)])
def test_off_policy_batched_learn_equals_per_member(algo, scenario, share, grouping, expected_pg, fused=True):
    env, pop, _, _ = make_tiny_population(algo, scenario, pop_size=4, num_envs=4, seed=3, SHARE_PARAMS=share,
                                          EXPECTED_PG=expected_pg)
    memory = filled_memory(env, pop[0])
    diversify_off_policy(pop)
    pop[2].set_hyperparameter("entropy_coef", 0.05)
    alone, stacked = [m.clone() for m in pop], [m.clone() for m in pop]
    memory_alone, memory_stacked = copy.deepcopy(memory), copy.deepcopy(memory)
    schedule = [[0, 1, 2, 3], [0, 1, 2, 3], [1, 3], [0, 2], [0, 1, 2, 3], [2], [0, 1, 2, 3]]
    for sel in schedule:
        for k in sel:
            alone[k].learn(memory_alone.sample(alone[k].batch_size))
    learner = StackedOffPolicy(stacked, grouping)
    for net in learner.nets.values():
        for stack in net.stacks:
            stack.fused &= fused
    for sel in schedule:
        rows = [memory_stacked.sample_indices(stacked[k].batch_size) for k in sel]
        learner.learn(sel, stacked_batch(memory_stacked, stacked[0], rows))
    learner.write_back()
    for a, b, original in zip(alone, stacked, pop):
        assert max_weight_change(original, a) > 1e-4  # learning happened
        assert_same_members(a, b)
    if grouping == "pad":  # the widened actor of member 1 made the others' rows padded
        assert any(stack.mask is not None for net in learner.nets.values() for stack in net.stacks)


def test_unfused_adam_path_equals_per_member():
    """Devices without torch's fused Adam kernel take the single-tensor path."""
    test_off_policy_batched_learn_equals_per_member("MADDPG", "coop_box", False, "pad", False, fused=False)


@pytest.mark.parametrize("scenario", ["coop_box", "coop_discrete"])
def test_off_policy_batched_acting_equals_per_member(scenario):
    env, pop, _, _ = make_tiny_population("MADDPG", scenario, pop_size=3, num_envs=4, seed=2)
    diversify_off_policy(pop + [pop[0].clone()])
    alone, stacked = [m.clone() for m in pop], [m.clone() for m in pop]
    obs, _ = env.reset(seed=0)
    learner = StackedOffPolicy(stacked)
    for _ in range(3):
        singles = [m.get_action(obs) for m in alone]
        big = {a: np.concatenate([obs[a]] * 3) for a in obs}
        env_actions, raw = learner.get_action([0, 1, 2], big)
        for agent in obs:
            np.testing.assert_allclose(raw[agent], np.concatenate([s[1][agent] for s in singles]), atol=1e-5)
            if scenario == "coop_discrete":  # same Gumbel draws, so the same sampled actions
                np.testing.assert_array_equal(env_actions[agent], np.concatenate([s[0][agent] for s in singles]))
    for a, b in zip(alone, stacked):
        assert a.rng.bit_generator.state == b.rng.bit_generator.state
        assert torch.equal(a.torch_gen.get_state(), b.torch_gen.get_state())


def test_stacking_and_writing_back_changes_nothing():
    _, pop, _, _ = make_tiny_population("MATD3", "coop_box", pop_size=4, seed=0)
    diversify_off_policy(pop)
    before = [m.state_dict() for m in pop]
    StackedOffPolicy(pop, "pad").write_back()
    for member, state in zip(pop, before):
        after = member.state_dict()
        for part in ("networks", "targets"):
            for name, tensors in state[part].items():
                for key, value in tensors.items():
                    assert torch.equal(after[part][name][key], value)


def ippo_population(scenario: str, share: bool):
    env = make_vec_env(f"tiny/{scenario}", num_envs=4, seed=0)
    hp = {"LEARN_STEP": 64, "BATCH_SIZE": 24, "AGENT_IDS": env.agents, "SHARE_PARAMS": share}
    pop = create_population("IPPO", [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [32, 32]}, hp,
                            population_size=4, num_envs=4, seed=0)
    rng = np.random.default_rng(1)
    first, last = list(pop[0].groups)[0], list(pop[0].groups)[-1]
    pop[1].mutate_architecture(f"actor/{first}", "add_node", rng)
    pop[2].mutate_architecture(f"critic/{last}", "add_layer", rng)
    pop[2].mutate_architecture(f"actor/{first}", "add_layer", rng)  # actors of two depths: stacks with own extras
    pop[3].mutate_architecture(f"actor/{last}", "remove_node", rng)
    for k, name, value in ((1, "lr", 3e-3), (2, "clip_coef", 0.1), (3, "ent_coef", 0.05), (1, "batch_size", 64),
                           (3, "batch_size", 20), (2, "update_epochs", 2), (0, "max_grad_norm", None),
                           (3, "target_kl", 1e-4), (3, "lr", 1e-2), (1, "clip_vloss", False), (2, "normalize_advantages", False),
                           (0, "gae_lambda", 0.8)):
        pop[k].set_hyperparameter(name, value)
    return env, pop


def rollout_buffer(member) -> RolloutBuffer:
    lead = {g: agents[0] for g, agents in member.groups.items()}
    return RolloutBuffer(member.rollout_steps, member.num_envs, member.agent_ids, member.groups,
                         {g: member.obs_dims[a] for g, a in lead.items()},
                         {g: member.codecs[a].raw_dim for g, a in lead.items()})


@pytest.mark.parametrize("scenario,share,grouping", [
    ("coop_box", False, "pad"), ("coop_box", True, "pad"), ("coop_discrete", False, "pad"),
    ("coop_multidiscrete", True, "pad"), ("coop_box", False, "shape")])
def test_ippo_batched_act_and_learn_equal_per_member(scenario, share, grouping):
    env, pop = ippo_population(scenario, share)
    alone, stacked = [m.clone() for m in pop], [m.clone() for m in pop]
    learner = StackedPPO(stacked, grouping)
    buffers_alone = [rollout_buffer(m) for m in alone]
    buffers_stacked = [rollout_buffer(m) for m in stacked]
    obs, infos = env.reset(seed=0)
    for _ in range(16):
        singles = [m.act(obs, infos) for m in alone]
        steps = learner.act([0, 1, 2, 3], {a: np.concatenate([obs[a]] * 4) for a in obs})
        for one, step in zip(singles, steps):
            np.testing.assert_allclose(step.log_probs, one.log_probs, atol=1e-4)
            np.testing.assert_allclose(step.values, one.values, atol=1e-5)
        next_obs, rewards, terms, truncs, infos = env.step(singles[0].env_actions)
        columns = [np.stack([d[a] for a in env.agents], 1) for d in (rewards, terms, truncs)]
        for k, one in enumerate(singles):  # both paths learn from the same transitions
            for buffer in (buffers_alone[k], buffers_stacked[k]):
                buffer.add(one.obs, one.actions, one.log_probs, one.values, columns[0].astype(np.float32),
                           columns[1], columns[2], np.ones_like(columns[1]), None, one.action_masks)
        obs = next_obs
    for k in range(4):
        buffers_alone[k].set_last_obs(alone[k].group_obs(obs))
        buffers_stacked[k].set_last_obs(stacked[k].group_obs(obs))
    losses_alone = [m.learn(b) for m, b in zip(alone, buffers_alone)]
    losses_stacked = learner.learn([0, 1, 2, 3], buffers_stacked)
    learner.write_back()
    for a, b, original in zip(alone, stacked, pop):
        assert max_weight_change(original, a) > 1e-4
        assert_same_members(a, b)
    for one, both in zip(losses_alone, losses_stacked):
        assert one["updates"] == both["updates"]
        for key, value in one.items():
            assert both[key] == pytest.approx(value, rel=1e-3, abs=1e-6), key
    assert losses_alone[3]["updates"] < 16  # member 3 stopped early on target_kl


def test_batched_learning_rejects_mixed_populations():
    _, maddpg, _, _ = make_tiny_population("MADDPG", "coop_box", pop_size=1)
    _, matd3, _, _ = make_tiny_population("MATD3", "coop_box", pop_size=1)
    with pytest.raises(Exception, match="one algorithm"):
        StackedOffPolicy(maddpg + matd3)


def test_auto_grouping_pads_only_where_it_costs_little():
    from evo_marl.population.network import _split_by_padding
    from evo_marl.population.stack import Layout

    layouts = [Layout(8, widths, 2, "ReLU", None) for widths in [(64, 64), (80, 64), (512, 64), (64, 64), (64,)]]
    groups = _split_by_padding([0, 1, 3], layouts)  # one depth: 64- and 80-wide members share a stack
    assert groups == [[0, 1, 3]]
    groups = _split_by_padding([0, 1, 2, 3], layouts)  # the 512-wide member would make the others pay 8x
    assert sorted(groups) == [[0, 1, 3], [2]]
