"""EvolvableMLP: construction, seeding, bounds, function-preserving growth, clone and serialisation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

from evo_marl import Mutations, create_population
from evo_marl.config import load_config
from evo_marl.envs import make_vec_env
from evo_marl.errors import ConfigError
from evo_marl.experiment import build_population
from evo_marl.networks import ACTIVATIONS, DEFAULT_INIT_SEED, EvolvableMLP
from evo_marl.seeding import torch_generator

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
OBS_SPACE, ACT_SPACE = spaces.Box(-1, 1, (4,), np.float32), spaces.Box(-1, 1, (2,), np.float32)

EXACT = ["ReLU", "LeakyReLU", "ELU", "GELU", "SiLU"]
APPROX_TOL = {"Tanh": 1e-5, "Sigmoid": 1e-4}  # documented approximations (see the module docstring)


def make(seed: int = 0, **kwargs) -> EvolvableMLP:
    kwargs.setdefault("hidden_size", [64, 64])
    return EvolvableMLP(kwargs.pop("num_inputs", 8), kwargs.pop("num_outputs", 3),
                        generator=torch_generator(seed), **kwargs)


def inputs(n: int = 512, dim: int = 8, seed: int = 99, dtype=torch.float32) -> torch.Tensor:
    return 3 * torch.randn(n, dim, generator=torch_generator(seed), dtype=dtype)


def max_change(net: EvolvableMLP, mutate, x: torch.Tensor) -> float:
    with torch.no_grad():
        before = net(x)
        mutate()
        return (net(x) - before).abs().max().item()


def test_forward_shape_and_parameter_count():
    net = make(hidden_size=[32, 16], num_inputs=5, num_outputs=2)
    assert net(torch.zeros(7, 5)).shape == (7, 2)
    assert net.hidden_size == [32, 16]
    assert net.parameter_count() == (5 * 32 + 32) + (32 * 16 + 16) + (16 * 2 + 2)


def test_same_generator_seed_same_weights_and_global_rng_untouched():
    state = torch.get_rng_state()
    a, b, c = make(1), make(1), make(2)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.output.weight, c.output.weight)


def test_default_generator_is_documented_seed():
    a = EvolvableMLP(8, 3)
    b = EvolvableMLP(8, 3, generator=torch_generator(DEFAULT_INIT_SEED))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_init_bounds_and_output_init_scale():
    net = make(hidden_size=[100], output_init_scale=3e-3)
    layer = net.hidden[0]
    bound = 1 / math.sqrt(8)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    assert layer.weight.abs().max() > 0.9 * bound  # really uses the whole default range
    assert net.output.weight.abs().max() <= 3e-3 and torch.all(net.output.bias == 0)


@pytest.mark.parametrize("kwargs, field", [
    ({"hidden_size": [64] * 5}, "hidden_size"),
    ({"hidden_size": []}, "hidden_size"),
    ({"hidden_size": [8]}, "hidden_size"),
    ({"hidden_size": [1024]}, "hidden_size"),
    ({"activation": "Swish"}, "activation"),
    ({"output_activation": "softmax"}, "output_activation"),
    ({"min_mlp_nodes": 64, "max_mlp_nodes": 32}, "max_mlp_nodes"),
    ({"min_hidden_layers": 0}, "min_hidden_layers"),
    ({"num_outputs": 0}, "num_outputs"),
    ({"output_init_scale": -1.0}, "output_init_scale"),
])
def test_invalid_arguments_raise_config_error(kwargs, field):
    with pytest.raises(ConfigError) as info:
        make(**kwargs)
    assert info.value.field == field


def test_unknown_activation_message_lists_valid_ones():
    with pytest.raises(ConfigError, match="ReLU") as info:
        make(activation="Swish")
    assert all(name in str(info.value) for name in ACTIVATIONS)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_add_node_preserves_function(activation):
    net = make(activation=activation)
    rng = np.random.default_rng(0)
    for layer in (0, 1):
        assert max_change(net, lambda: net.add_node(rng, hidden_layer=layer, num_nodes=16), inputs()) == 0.0
    assert net.hidden_size == [80, 80]


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_add_layer_preserves_function(activation, dtype):
    worst = 0.0
    for seed in range(5):
        net = make(seed, activation=activation, output_activation="Tanh").to(dtype)
        rng = np.random.default_rng(seed)
        worst = max(worst, max_change(net, lambda: net.add_layer(rng), inputs(seed=seed, dtype=dtype)))
        assert len(net.hidden_size) == 3
        assert all(p.dtype == dtype for p in net.parameters())
    if activation in EXACT:
        assert worst < (1e-5 if dtype == torch.float32 else 1e-12)
    else:
        assert worst < APPROX_TOL[activation]


@pytest.mark.parametrize("activation", ["LeakyReLU", "GELU", "SiLU"])
def test_add_layer_odd_construction_widens_for_many_outputs(activation):
    net = make(activation=activation, hidden_size=[32], num_outputs=40)
    x = inputs()
    assert max_change(net, lambda: net.add_layer(np.random.default_rng(0)), x) < 1e-5
    assert net.hidden_size == [32, 80]
    capped = make(activation=activation, hidden_size=[32], num_outputs=40, max_mlp_nodes=64)
    assert capped.add_layer(np.random.default_rng(0)).startswith("add_node")  # 80 units would exceed 64
    assert len(capped.hidden_size) == 1


def test_new_units_get_gradients():
    net = make()
    net.add_layer(np.random.default_rng(0))
    net.add_node(np.random.default_rng(1), hidden_layer=0, num_nodes=16)
    loss = net(inputs()).pow(2).sum()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    assert net.hidden[1].weight.grad[:, 64:].abs().sum() > 0  # zero outgoing weights of new units can learn


def test_mutations_fall_back_at_bounds():
    rng = np.random.default_rng(0)
    net = make(hidden_size=[16], min_hidden_layers=1, max_hidden_layers=1, min_mlp_nodes=16, max_mlp_nodes=32)
    assert net.add_layer(rng).startswith("add_node")
    assert net.hidden_size == [32]
    assert "no change" in net.add_layer(rng)
    assert "no change" in net.add_node(rng, hidden_layer=0)
    assert net.remove_layer(rng).startswith("remove_node")
    assert net.hidden_size == [16]
    assert "no change" in net.remove_node(rng)
    assert net.hidden_size == [16]


def test_changes_predicts_whether_an_op_changes_the_network():
    rng = np.random.default_rng(3)
    ops = ("add_layer", "remove_layer", "add_node", "remove_node")
    for start in ([16], [32], [16, 32], [32, 32, 32]):
        for op in ops:
            net = make(hidden_size=start, min_hidden_layers=1, max_hidden_layers=3, min_mlp_nodes=16,
                       max_mlp_nodes=32)
            predicted = net.changes(op)
            getattr(net, op)(rng)
            assert predicted == (net.hidden_size != start), (start, op, net.hidden_size)
    with pytest.raises(ConfigError, match="op"):
        make().changes("grow")


def test_node_counts_are_clipped_to_bounds():
    rng = np.random.default_rng(0)
    net = make(hidden_size=[100, 20], max_mlp_nodes=110, min_mlp_nodes=16)
    assert net.add_node(rng, hidden_layer=0, num_nodes=64) == "add_node(layer=0, +10)"
    assert net.remove_node(rng, hidden_layer=1, num_nodes=64) == "remove_node(layer=1, -4)"
    assert net.hidden_size == [110, 16]
    with pytest.raises(ConfigError):
        net.add_node(rng, hidden_layer=2)


def test_random_mutations_respect_bounds_and_never_raise():
    rng = np.random.default_rng(123)
    net = make(hidden_size=[32], min_hidden_layers=1, max_hidden_layers=3, min_mlp_nodes=16, max_mlp_nodes=96)
    ops = [net.add_layer, net.remove_layer, net.add_node, net.remove_node]
    for _ in range(300):
        desc = ops[rng.integers(len(ops))](rng)
        assert isinstance(desc, str) and desc
        assert 1 <= len(net.hidden_size) <= 3
        assert all(16 <= h <= 96 for h in net.hidden_size), net.hidden_size
        assert net(inputs(4)).shape == (4, 3)


def test_remove_layer_keeps_output_bias_and_changes_shapes():
    net = make(hidden_size=[64, 32])
    bias = net.output.bias.clone()
    assert net.remove_layer(np.random.default_rng(0)) == "remove_layer(width=32)"
    assert net.hidden_size == [64]
    assert net.output.weight.shape == (3, 64)
    assert torch.equal(net.output.bias, bias)


def test_parameters_are_replaced_by_mutation():
    net = make()
    before = {id(p) for p in net.parameters()}
    net.add_node(np.random.default_rng(0), hidden_layer=1)
    after = list(net.parameters())
    assert {id(p) for p in after} != before
    assert [tuple(p.shape) for p in after][:4] == [(64, 8), (64,), (64 + net.hidden_size[1] - 64, 64),
                                                   (net.hidden_size[1],)]
    optimizer = torch.optim.Adam(net.parameters())  # a fresh optimizer over the new parameters works
    net(inputs()).sum().backward()
    optimizer.step()


def test_mutation_without_generator_is_reproducible_from_rng():
    a, b = make(), make()
    for net in (a, b):
        rng = np.random.default_rng(7)
        net.add_node(rng)
        net.add_layer(rng)
        net.remove_layer(rng)
    assert a.hidden_size == b.hidden_size
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_change_activation():
    net = make()
    x = inputs()
    before = net(x)
    assert net.change_activation("Tanh") == "change_activation(ReLU->Tanh)"
    assert net.activation == "Tanh" and not torch.allclose(net(x), before)
    assert "no change" in net.change_activation("Tanh")
    with pytest.raises(ConfigError, match="must be one of"):
        net.change_activation("relu")
    assert net.init_dict["activation"] == "Tanh"


def test_clone_is_independent():
    net = make(output_activation="Tanh").to(torch.float64)
    twin = net.clone()
    x = inputs(dtype=torch.float64)
    assert torch.equal(net(x), twin(x))
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(net.parameters(), twin.parameters()))
    twin.add_node(np.random.default_rng(0))
    with torch.no_grad():
        twin.output.weight.add_(1.0)
    assert net.hidden_size == [64, 64] and twin.output.weight.dtype == torch.float64
    assert not torch.equal(net(x), twin(x))


def test_init_dict_is_json_and_rebuilds_architecture():
    net = make(activation="GELU", output_activation="Sigmoid", output_init_scale=3e-3, max_hidden_layers=5)
    rng = np.random.default_rng(0)
    net.add_layer(rng)
    net.add_node(rng)
    config = json.loads(json.dumps(net.init_dict))
    rebuilt = EvolvableMLP(**config)
    rebuilt.load_state_dict(net.state_dict())
    assert rebuilt.init_dict == net.init_dict
    assert torch.equal(rebuilt(inputs()), net(inputs()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_parameters_stay_on_device():
    net = EvolvableMLP(8, 3, activation="GELU", generator=torch_generator(0), device="cuda")
    cpu = EvolvableMLP(8, 3, activation="GELU", generator=torch_generator(0))
    assert all(torch.equal(p.cpu(), q) for p, q in zip(net.parameters(), cpu.parameters()))
    x = inputs().cuda()
    rng = np.random.default_rng(0)
    assert max_change(net, lambda: net.add_layer(rng), x) < 1e-5
    net.add_node(rng)
    net.remove_layer(rng)
    assert all(p.device.type == "cuda" for p in net.parameters())


def test_numpy_integer_widths_are_accepted_and_json_safe():
    net = EvolvableMLP(8, 3, hidden_size=np.array([32, 48]), output_init_scale=np.float32(3e-3))
    assert json.loads(json.dumps(net.init_dict))["hidden_size"] == [32, 48]


@pytest.mark.parametrize("name", ["bucket_brigade_league", "bucket_brigade_team_ippo_egocentric"])
def test_grow_only_configs_never_shrink_actor_or_critic(name):
    """The Bucket Brigade IPPO configs bound every network below by its initial [64, 64]; growth stays free."""
    config = load_config(CONFIGS / f"{name}.yaml", ["population_size=2"])
    member = build_population(config, make_vec_env(config.env.id, num_envs=2, seed=0))[0]
    rng = np.random.default_rng(0)
    assert {s.split("/")[0] for s in member.slots} == {"actor", "critic"}
    for slot in member.slots:
        for op in ("remove_layer", "remove_node", "remove_layer"):
            member.mutate_architecture(slot, op, rng)
        assert all(member.networks[n].hidden_size == [64, 64] for n in member.slots[slot]), slot
        member.mutate_architecture(slot, "add_node", rng)
        assert all(sum(member.networks[n].hidden_size) > 128 for n in member.slots[slot]), slot


def test_architecture_mutations_of_a_grow_only_member_are_never_wasted():
    """A shrink drawn for a network at its lower bounds turns into a growth instead of a no-op."""
    config = load_config(CONFIGS / "bucket_brigade_team_ippo_egocentric.yaml", ["population_size=2"])
    member = build_population(config, make_vec_env(config.env.id, num_envs=2, seed=0))[0]
    assert not any(member.architecture_changes(slot, "remove_layer") for slot in member.slots)  # at its minimum
    mutations = Mutations(no_mutation=0, architecture=1, parameters=0, rl_hp=0, rand_seed=0)
    for _ in range(10):
        before = member.architecture()
        mutations.mutation([member])
        assert member.architecture() != before, member.mut
        assert all(len(net.hidden_size) >= 2 and min(net.hidden_size) >= 64 for net in member.networks.values())


def test_architecture_mutation_of_a_fixed_network_reports_no_change():
    member = create_population("MATD3", [OBS_SPACE], [ACT_SPACE], {"hidden_size": [32], "min_hidden_layers": 1,
                               "max_hidden_layers": 1, "min_mlp_nodes": 32, "max_mlp_nodes": 32},
                               {"AGENT_IDS": ["a"]}, population_size=1, seed=0)[0]
    Mutations(no_mutation=0, architecture=1, parameters=0, rl_hp=0, rand_seed=0).mutation([member])
    assert "no change" in member.mut
    assert member.networks["actor/a"].hidden_size == [32]
