"""MultiAgentReplayBuffer: round-trips, wrap-around, vectorised saves, determinism, checkpoints, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from evo_marl.buffers import MultiAgentReplayBuffer
from evo_marl.errors import CheckpointError, ConfigError, EnvError

AGENTS = ["speaker_0", "listener_0"]
FIELDS = ["obs", "action", "reward", "next_obs", "termination"]
OBS_DIM = {"speaker_0": 3, "listener_0": 11}


def step_data(t: np.ndarray) -> tuple:
    """Vectorised transitions whose every value encodes its step number ``t`` (shape [num_envs])."""
    t = np.asarray(t, dtype=np.float64)
    obs = {a: t[:, None] + np.arange(OBS_DIM[a]) / 100 for a in AGENTS}
    action = {a: np.stack([t, -t], axis=1).astype(np.float32) for a in AGENTS}
    reward = {a: t * (i + 1) for i, a in enumerate(AGENTS)}
    next_obs = {a: o + 1 for a, o in obs.items()}
    termination = t.astype(np.int64) % 3 == 0  # one array shared by all agents
    return obs, action, reward, next_obs, termination


def make(memory_size: int = 100, seed: int = 0, **kwargs) -> MultiAgentReplayBuffer:
    return MultiAgentReplayBuffer(memory_size, field_names=FIELDS, agent_ids=AGENTS, seed=seed, **kwargs)


def stored_steps(buffer: MultiAgentReplayBuffer) -> list[int]:
    """The step numbers held by the buffer, in row order (checked consistent across fields and agents)."""
    batch, idx = buffer.sample(len(buffer), return_indices=True)
    order = np.argsort(idx)
    steps = batch.action["speaker_0"][order, 0].numpy()
    for a, t in zip(AGENTS, (steps, steps)):
        np.testing.assert_allclose(batch.obs[a][order, 0].numpy(), t)
        np.testing.assert_allclose(batch.next_obs[a][order, 0].numpy(), t + 1)
        np.testing.assert_allclose(batch.reward[a][order].numpy(), t * (AGENTS.index(a) + 1))
        np.testing.assert_array_equal(batch.termination[a][order].numpy(), t.astype(np.int64) % 3 == 0)
    return steps.astype(int).tolist()


def test_round_trip_shapes_dtypes_and_batch_access():
    buffer = make()
    buffer.save_to_memory(*step_data(np.arange(8)), is_vectorised=True)
    assert len(buffer) == buffer.counter == 8
    batch = buffer.sample(5)
    assert batch._fields == tuple(FIELDS) and batch[0] is batch.obs
    obs, action, reward, next_obs, termination = batch  # unpacks in field order
    assert obs["listener_0"].shape == (5, 11) and obs["listener_0"].dtype == torch.float32
    assert action["speaker_0"].shape == (5, 2)
    assert reward["speaker_0"].shape == (5,) and reward["speaker_0"].dtype == torch.float32
    assert termination["listener_0"].dtype == torch.bool and termination["listener_0"].shape == (5,)
    assert all(t.device.type == "cpu" for field in batch for t in field.values())
    assert stored_steps(buffer) == list(range(8))


def test_int_fields_become_int64():
    buffer = MultiAgentReplayBuffer(10, field_names=["obs", "action"], agent_ids=["a"], seed=0)
    buffer.save_to_memory({"a": np.zeros(4, np.float64)}, {"a": np.int32(2)})
    buffer.save_to_memory(np.ones(4), 1)  # plain values shared by all agents
    batch = buffer.sample(2)
    assert batch.action["a"].dtype == torch.int64 and batch.action["a"].shape == (2,)
    assert batch.obs["a"].dtype == torch.float32 and batch.obs["a"].shape == (2, 4)


def test_wrap_around_keeps_the_newest_transitions():
    buffer = make(memory_size=10)
    for start in range(0, 24, 4):
        buffer.save_to_memory(*step_data(np.arange(start, start + 4)), is_vectorised=True)
    assert len(buffer) == 10 and buffer.counter == 24
    assert sorted(stored_steps(buffer)) == list(range(14, 24))


def test_save_larger_than_capacity_keeps_last_rows():
    buffer = make(memory_size=5)
    buffer.save_to_memory(*step_data(np.arange(3)), is_vectorised=True)
    buffer.save_to_memory(*step_data(np.arange(3, 15)), is_vectorised=True)
    assert len(buffer) == 5 and buffer.counter == 15
    assert sorted(stored_steps(buffer)) == list(range(10, 15))
    buffer.save_to_memory(*step_data(np.arange(15, 17)), is_vectorised=True)
    assert sorted(stored_steps(buffer)) == list(range(12, 17))


def test_vectorised_equals_one_by_one():
    vec, single = make(memory_size=7, seed=3), make(memory_size=7, seed=3)
    for start in (0, 5, 10):
        data = step_data(np.arange(start, start + 5))
        vec.save_to_memory(*data, is_vectorised=True)
        for row in range(5):
            single.save_to_memory(*({a: v[row] for a, v in d.items()} if isinstance(d, dict) else d[row]
                                    for d in data))
    assert len(vec) == len(single) and vec.counter == single.counter == 15
    for a, b in zip(vec.sample(6), single.sample(6)):
        for agent in AGENTS:
            assert torch.equal(a[agent], b[agent])


def test_keyword_save_equals_positional():
    positional, keyword = make(seed=1), make(seed=1)
    data = step_data(np.arange(6))
    positional.save_to_memory(*data, is_vectorised=True)
    keyword.save(**dict(zip(reversed(FIELDS), reversed(data))), is_vectorised=True)
    for a, b in zip(positional.sample(4), keyword.sample(4)):
        assert all(torch.equal(a[agent], b[agent]) for agent in AGENTS)


def test_extra_fields_by_keyword():
    fields = ["obs", "action", "reward", "next_obs", "termination", "truncation", "active"]
    buffer = MultiAgentReplayBuffer(20, field_names=fields, agent_ids=AGENTS, seed=0)
    obs, action, reward, next_obs, termination = step_data(np.arange(4))
    buffer.save(obs=obs, action=action, reward=reward, next_obs=next_obs, termination=termination,
                truncation=np.zeros(4, bool), active={a: np.ones(4, bool) for a in AGENTS}, is_vectorised=True)
    batch = buffer.sample(4)
    assert batch.active["listener_0"].all() and not batch.truncation["speaker_0"].any()


def test_same_seed_same_samples_and_return_indices():
    a, b, c = make(seed=42), make(seed=42), make(seed=43)
    for buffer in (a, b, c):
        buffer.save_to_memory(*step_data(np.arange(50)), is_vectorised=True)
    (batch_a, idx_a), (batch_b, idx_b) = a.sample(16, return_indices=True), b.sample(16, return_indices=True)
    _, idx_c = c.sample(16, return_indices=True)
    assert np.array_equal(idx_a, idx_b) and not np.array_equal(idx_a, idx_c)
    assert len(set(idx_a.tolist())) == 16  # without replacement
    assert torch.equal(batch_a.obs["speaker_0"], batch_b.obs["speaker_0"])
    assert np.array_equal(batch_a.action["speaker_0"][:, 0].numpy(), idx_a)  # row i holds step i here


def test_generator_seed_is_used_directly():
    a = MultiAgentReplayBuffer(10, agent_ids=AGENTS, seed=np.random.default_rng(5))
    b = MultiAgentReplayBuffer(10, agent_ids=AGENTS, seed=np.random.default_rng(5))
    for buffer in (a, b):
        buffer.save_to_memory(*step_data(np.arange(10)), is_vectorised=True)
    assert np.array_equal(a.sample(5, return_indices=True)[1], b.sample(5, return_indices=True)[1])


def test_state_dict_round_trip_continues_identically():
    original = make(memory_size=30, seed=7)
    for start in range(0, 40, 8):
        original.save_to_memory(*step_data(np.arange(start, start + 8)), is_vectorised=True)
    original.sample(4)
    file = io.BytesIO()
    torch.save(original.state_dict(), file)
    file.seek(0)
    restored = make(memory_size=30, seed=999)
    restored.load_state_dict(torch.load(file, weights_only=True))
    assert len(restored) == len(original) == 30 and restored.counter == original.counter == 40
    for buffer in (original, restored):  # the same future saves and samples
        buffer.save_to_memory(*step_data(np.arange(40, 45)), is_vectorised=True)
    for _ in range(3):
        for x, y in zip(original.sample(10), restored.sample(10)):
            assert all(torch.equal(x[agent], y[agent]) and x[agent].dtype == y[agent].dtype for agent in AGENTS)


def test_state_dict_is_a_snapshot_and_empty_buffer_round_trips():
    buffer = make(memory_size=10)
    empty = buffer.state_dict()
    buffer.save_to_memory(*step_data(np.arange(4)), is_vectorised=True)
    state = buffer.state_dict()
    buffer.save_to_memory(*step_data(np.arange(100, 110)), is_vectorised=True)
    assert state["data"]["action"]["speaker_0"][:, 0].tolist() == [0, 1, 2, 3]
    other = make(memory_size=10)
    other.load_state_dict(empty)
    assert len(other) == 0
    other.load_state_dict(state)
    assert sorted(stored_steps(other)) == [0, 1, 2, 3]


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(memory_size=11), "memory_size=11"),
    (lambda s: s.update(agent_ids=["speaker_0"]), "agent_ids"),
    (lambda s: s.update(field_names=FIELDS[:4]), "field_names"),
    (lambda s: s.pop("rng_state"), "missing keys \\['rng_state'\\]"),
    (lambda s: s.update(size=7), "inconsistent size=7"),
    (lambda s: s["data"].pop("reward"), "data has fields"),
    (lambda s: s["data"]["obs"].pop("listener_0"), "field 'obs' has agents"),
    (lambda s: s["data"]["obs"].update(listener_0=torch.zeros(2, 11)), "field 'obs', agent 'listener_0'"),
    (lambda s: s.update(rng_state='{"bit_generator": "MT19937"}'), "rng_state does not fit"),
])
def test_load_state_dict_names_the_mismatch(change, message):
    buffer = make(memory_size=10)
    buffer.save_to_memory(*step_data(np.arange(4)), is_vectorised=True)
    state = buffer.state_dict()
    change(state)
    with pytest.raises(CheckpointError, match=message):
        make(memory_size=10).load_state_dict(state)


def test_clear_forgets_transitions_and_shapes():
    buffer = make()
    buffer.save_to_memory(*step_data(np.arange(4)), is_vectorised=True)
    buffer.clear()
    assert len(buffer) == buffer.counter == 0
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(1)
    obs = {a: np.zeros((2, 1)) for a in AGENTS}  # another shape is fine after clear
    buffer.save_to_memory(obs, obs, np.zeros(2), obs, np.zeros(2, bool), is_vectorised=True)
    assert buffer.sample(2).obs["speaker_0"].shape == (2, 1)


def test_sampling_errors():
    buffer = make()
    buffer.save_to_memory(*step_data(np.arange(3)), is_vectorised=True)
    with pytest.raises(ValueError, match=r"batch_size=4 must be an integer in \[1, len\(buffer\)=3\]"):
        buffer.sample(4)
    with pytest.raises(ValueError, match="batch_size=0"):
        buffer.sample(0)


def test_save_errors_name_field_agent_expected_and_got():
    buffer = make()
    data = list(step_data(np.arange(4)))
    with pytest.raises(ValueError, match="expected 5 arguments"):
        buffer.save_to_memory(*data[:4], is_vectorised=True)
    with pytest.raises(ValueError, match="either 5 positional arguments or keywords"):
        buffer.save(obs=data[0], is_vectorised=True)
    with pytest.raises(EnvError, match=r"field 'reward': .*missing \['listener_0'\], unknown \['listener_1'\]"):
        buffer.save_to_memory(data[0], data[1], {"speaker_0": np.zeros(4), "listener_1": np.zeros(4)}, *data[3:],
                              is_vectorised=True)
    with pytest.raises(EnvError, match="field 'termination', agent 'speaker_0': expected 4 rows"):
        buffer.save_to_memory(*data[:4], np.zeros(3, bool), is_vectorised=True)
    with pytest.raises(EnvError, match="leading num_envs axis"):
        buffer.save_to_memory(*data[:4], False, is_vectorised=True)
    buffer.save_to_memory(*data, is_vectorised=True)
    bad_obs = {**data[0], "listener_0": np.zeros((4, 12))}
    with pytest.raises(EnvError, match=r"field 'obs', agent 'listener_0': expected shape \(11,\) .* got shape \(12,\)"):
        buffer.save_to_memory(bad_obs, *data[1:], is_vectorised=True)
    with pytest.raises(EnvError, match="field 'termination', agent 'speaker_0': expected shape .* dtype bool"):
        buffer.save_to_memory(*data[:4], np.zeros(4, np.float32), is_vectorised=True)
    assert len(buffer) == 4 and buffer.counter == 4  # failed saves wrote nothing
    assert stored_steps(buffer) == [0, 1, 2, 3]


def test_failed_first_save_fixes_no_shapes():
    buffer = make()
    data = list(step_data(np.arange(4)))
    with pytest.raises(EnvError, match="expected 4 rows"):
        buffer.save_to_memory(*data[:4], np.zeros(3, bool), is_vectorised=True)
    obs = {a: np.zeros((2, 1)) for a in AGENTS}
    buffer.save_to_memory(obs, obs, np.zeros(2), obs, np.zeros(2, bool), is_vectorised=True)
    assert len(buffer) == 2 and buffer.sample(1).obs["speaker_0"].shape == (1, 1)


def test_failed_save_does_not_corrupt_a_full_buffer():
    buffer = make(memory_size=4)
    buffer.save_to_memory(*step_data(np.arange(4)), is_vectorised=True)
    data = list(step_data(np.arange(10, 14)))
    with pytest.raises(EnvError):
        buffer.save_to_memory(*data[:4], np.zeros((4, 2), bool), is_vectorised=True)
    assert sorted(stored_steps(buffer)) == [0, 1, 2, 3]


@pytest.mark.parametrize("kwargs, field", [
    ({"memory_size": 0}, "memory_size"),
    ({"field_names": ["obs", "obs"]}, "field_names"),
    ({"field_names": ["obs", "next obs"]}, "field_names"),
    ({"field_names": ["_private"]}, "field_names"),
    ({"agent_ids": None}, "agent_ids"),
    ({"agent_ids": []}, "agent_ids"),
])
def test_invalid_constructor_arguments(kwargs, field):
    kwargs = {"memory_size": 10, "agent_ids": AGENTS, **kwargs}
    with pytest.raises(ConfigError) as info:
        MultiAgentReplayBuffer(**kwargs)
    assert info.value.field == field


def test_zero_rows_store_nothing_but_are_checked():
    buffer = make()
    buffer.save_to_memory(*step_data(np.arange(0)), is_vectorised=True)
    assert len(buffer) == buffer.counter == 0
    buffer.save_to_memory(*step_data(np.arange(2)), is_vectorised=True)
    bad_obs = {a: np.zeros((0, 5)) for a in AGENTS}
    with pytest.raises(EnvError, match="field 'obs', agent 'speaker_0': expected shape"):
        buffer.save_to_memory(bad_obs, *step_data(np.arange(0))[1:], is_vectorised=True)
    assert stored_steps(buffer) == [0, 1]


def test_torch_tensors_are_accepted():
    buffer = make()
    obs, action, reward, next_obs, termination = step_data(np.arange(3))
    action = {a: torch.from_numpy(v).requires_grad_(False) for a, v in action.items()}
    buffer.save_to_memory(obs, action, reward, next_obs, torch.from_numpy(termination), is_vectorised=True)
    assert stored_steps(buffer) == [0, 1, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device():
    buffer = make(device="cuda")
    buffer.save_to_memory(*step_data(np.arange(3)), is_vectorised=True)
    batch = buffer.sample(2)
    assert all(t.device.type == "cuda" for field in batch for t in field.values())


def _tensor_storage(**kwargs) -> MultiAgentReplayBuffer:
    """The storage a CUDA buffer uses (torch tensors on its device), here on the CPU."""
    buffer = make(**kwargs)
    buffer.tensor_storage = True
    return buffer


def test_tensor_storage_equals_numpy_storage():
    """The device storage path (a CUDA buffer's) stores, wraps, samples, gathers and checkpoints as NumPy does."""
    host, tensors = make(memory_size=10), _tensor_storage(memory_size=10)
    for buffer in (host, tensors):
        for start in range(0, 14, 7):  # wraps around
            buffer.save_to_memory(*step_data(np.arange(start, start + 7)), is_vectorised=True)
    assert all(isinstance(store, torch.Tensor) for per in tensors._data.values() for store in per.values())
    assert stored_steps(tensors) == stored_steps(host)
    rows = np.array([[0, 3], [9, 1]])
    for field, other in zip(host.gather(rows), tensors.gather(rows)):
        for agent in AGENTS:
            assert torch.equal(field[agent], other[agent]) and other[agent].dtype == field[agent].dtype
    restored = _tensor_storage(memory_size=10)
    restored.load_state_dict(torch.load(io.BytesIO(_saved(tensors.state_dict())), weights_only=True))
    assert stored_steps(restored) == stored_steps(host)
    with pytest.raises(EnvError, match="expected shape"):
        tensors.save_to_memory(*step_data(np.arange(2))[:4], np.zeros((2, 3)), is_vectorised=True)


def _saved(state: dict) -> bytes:
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()
