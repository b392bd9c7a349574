"""One preallocated, circular multi-agent replay buffer shared by a whole population.

Storage is one NumPy array ``[memory_size, *shape]`` per field and agent, allocated on the first save
from the shapes and dtypes of that data (floats are stored as float32, integers as int64, bools as
bool). A save writes all its rows with one fancy-indexed assignment per field and agent; a sample draws
indices from the buffer's own ``numpy.random.Generator`` and gathers them with one fancy index per
field and agent. The call shape follows AgileRL's ``MultiAgentReplayBuffer``.

With a CUDA ``device`` the storage itself lives on the device (one tensor per field and agent): a save
copies the env's arrays to it once (the env boundary), and a sample gathers on the device from indices
sent through pinned memory without waiting, so learning from the buffer never waits for the host.
"""

from __future__ import annotations

import json
import keyword
from collections import namedtuple
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from evo_marl.errors import CheckpointError, EnvError, check
from evo_marl.seeding import numpy_rng

_STATE_VERSION = 1


_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.int64): torch.int64, np.dtype(np.bool_): torch.bool}


def _canonical(array: np.ndarray, field: str, agent: str) -> np.dtype:
    """The storage dtype for ``array``: float32, int64 or bool."""
    for kind, dtype in (("f", np.float32), ("iu", np.int64), ("b", np.bool_)):
        if array.dtype.kind in kind:
            return np.dtype(dtype)
    raise EnvError(f"field {field!r}, agent {agent!r}: dtype {array.dtype} is not a float, integer or bool dtype")


class MultiAgentReplayBuffer:
    """Circular buffer of multi-agent transitions, one array per field and agent.

    Args:
        memory_size: Capacity in transitions (one transition = one row per agent and field).
        field_names: Names of the stored fields, in the positional order of ``save_to_memory``; they
            become the attributes of sampled batches, so they must be Python identifiers.
        agent_ids: The agents every save must provide.
        device: Device of the sampled tensors; with a CUDA device the transitions are stored there too.
        seed: Seed (or a ready ``numpy.random.Generator``, used as is) for the sampling RNG; None draws
            fresh OS entropy.

    Attributes:
        counter: Transitions ever saved (since construction or ``clear``).
        tensor_storage: Store transitions as tensors on ``device`` (True for CUDA devices; set before the first save).
    """

    def __init__(self, memory_size: int, field_names: Sequence[str] = ("obs", "action", "reward", "next_obs",
                                                                        "termination"),
                 agent_ids: Sequence[str] | None = None, device: str | torch.device = "cpu",
                 seed: int | np.random.Generator | None = None):
        check(isinstance(memory_size, (int, np.integer)) and memory_size >= 1, "memory_size", memory_size,
              "must be an integer >= 1")
        field_names = list(field_names)
        check(len(field_names) >= 1 and len(set(field_names)) == len(field_names), "field_names", field_names,
              "must be a non-empty list of distinct names")
        for name in field_names:
            check(isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)
                  and not name.startswith("_") and name != "is_vectorised", "field_names", name,
                  "each name must be a Python identifier, not 'is_vectorised' and not starting with '_' "
                  "(batches expose fields as attributes)")
        check(agent_ids is not None and len(agent_ids) >= 1 and len(set(agent_ids)) == len(agent_ids),
              "agent_ids", agent_ids, "must be a non-empty list of distinct agent ids")
        self.memory_size = int(memory_size)
        self.field_names = field_names
        self.agent_ids = list(agent_ids)
        self.device = torch.device(device)
        self.tensor_storage = self.device.type == "cuda"  # store transitions as tensors on the device (set before saving)
        self._rng = seed if isinstance(seed, np.random.Generator) else numpy_rng(seed)
        self.Batch = namedtuple("Batch", field_names)  # tuple in field order with attribute access
        self.clear()

    def reseed(self, seed: int | np.random.Generator | None) -> None:
        """Replace the sampling RNG (trainers derive it from the run's root seed)."""
        self._rng = seed if isinstance(seed, np.random.Generator) else numpy_rng(seed)

    def clear(self) -> None:
        """Forget all transitions (and their shapes); the sampling RNG continues."""
        self._data: dict[str, dict[str, np.ndarray]] = {}
        self._size = 0
        self._pos = 0  # next row to write
        self.counter = 0

    def __len__(self) -> int:
        return self._size

    @property
    def rng(self) -> np.random.Generator:
        """The sampling RNG (its ``bit_generator.state`` can be read and set)."""
        return self._rng

    # ------------------------------------------------------------------ sharing rows between replicas
    def mark(self) -> tuple[int, int, int]:
        """A position in the stream of saves, for :meth:`rows_since` and :meth:`rewind`."""
        return self._pos, self._size, self.counter

    def rows_since(self, mark: tuple[int, int, int]) -> dict[str, dict[str, np.ndarray]]:
        """The rows saved after ``mark`` in save order, as ``{field: {agent: array [rows, ...]}}`` (copies).

        Raises:
            ValueError: more rows were saved since ``mark`` than the buffer holds (the first ones are lost).
        """
        n = self.counter - mark[2]
        if n > self.memory_size:
            raise ValueError(f"rows_since: {n} rows were saved since the mark, more than memory_size="
                             f"{self.memory_size}; the oldest are overwritten")
        if n <= 0 or not self._data:
            return {}
        index = (self._pos - n + np.arange(n)) % self.memory_size
        return {name: {agent: store[index] for agent, store in per.items()} for name, per in self._data.items()}

    def rewind(self, mark: tuple[int, int, int]) -> None:
        """Forget the rows saved after ``mark`` (they are overwritten by the next saves; the RNG continues).

        Replicas of one buffer stay identical when each rewinds its own rows and then saves everyone's
        rows in one agreed order (:mod:`evo_marl.distributed`)."""
        pos, size, counter = mark
        if not (0 <= pos < self.memory_size and 0 <= size <= self.memory_size and counter <= self.counter):
            raise ValueError(f"rewind: mark {mark} is not a position of this buffer (counter {self.counter}, "
                             f"memory_size {self.memory_size})")
        self._pos, self._size, self.counter = pos, size, counter

    def save_to_memory(self, *args: Any, is_vectorised: bool = False, **fields: Any) -> None:
        """Store transitions given positionally in ``field_names`` order, or by field name as keywords.

        Each value is a dict ``agent_id -> array`` or one array shared by all agents. With
        ``is_vectorised`` each array has a leading ``num_envs`` axis and all its rows are stored;
        otherwise each array is one transition (a scalar reward or flag is stored with shape ``[]``).
        Vectorised arrays with 0 rows are checked like any others and store nothing.

        Raises:
            ValueError: A wrong number of arguments, or both positional and keyword arguments.
            EnvError: Missing or unknown agents, inconsistent ``num_envs``, or data whose shape or dtype
                differs from the first save's.
        """
        if fields:
            if args or set(fields) != set(self.field_names):
                raise ValueError(f"save_to_memory: pass either {len(self.field_names)} positional arguments or "
                                 f"keywords for exactly the fields {self.field_names}; got {len(args)} positional "
                                 f"and keywords {sorted(fields)}")
            args = tuple(fields[name] for name in self.field_names)
        elif len(args) != len(self.field_names):
            raise ValueError(f"save_to_memory: expected {len(self.field_names)} arguments "
                             f"{self.field_names}, got {len(args)}")

        rows = [self._per_agent(name, value, is_vectorised) for name, value in zip(self.field_names, args)]
        n = len(next(iter(rows[0].values())))  # 0 rows (e.g. all filtered out) is checked, then a no-op
        data = self._data or {name: {agent: self._allocate((self.memory_size, *array.shape[1:]),
                                                          _canonical(array, name, agent))
                                     for agent, array in per_agent.items()}
                              for name, per_agent in zip(self.field_names, rows)}  # first save: allocate
        for name, per_agent in zip(self.field_names, rows):  # check everything before writing anything
            for agent, array in per_agent.items():
                store = data[name][agent]
                if len(array) != n:
                    raise EnvError(f"field {name!r}, agent {agent!r}: expected {n} rows (num_envs of field "
                                   f"{self.field_names[0]!r}), got {len(array)}")
                dtype = self._numpy_dtype(store)
                if array.shape[1:] != tuple(store.shape[1:]) or not np.can_cast(array.dtype, dtype, "same_kind"):
                    raise EnvError(f"field {name!r}, agent {agent!r}: expected shape {tuple(store.shape[1:])} and "
                                   f"dtype {dtype} per transition (from the first save), got shape "
                                   f"{array.shape[1:]} and dtype {array.dtype}")

        self._data = data
        keep = min(n, self.memory_size)  # with more rows than capacity only the last ones survive
        index = (self._pos + n - keep + np.arange(keep)) % self.memory_size
        where = self._index(index)
        for name, per_agent in zip(self.field_names, rows):
            for agent, array in per_agent.items():
                store = self._data[name][agent]
                store[where] = array[n - keep:] if isinstance(store, np.ndarray) else \
                    torch.from_numpy(np.ascontiguousarray(array[n - keep:], self._numpy_dtype(store))).to(self.device)
        self._pos = (self._pos + n) % self.memory_size
        self._size = min(self._size + n, self.memory_size)
        self.counter += n

    save = save_to_memory  # keyword form used by the trainer: buffer.save(obs=..., ..., is_vectorised=True)

    def _per_agent(self, name: str, value: Any, vectorised: bool) -> dict[str, np.ndarray]:
        """``{agent: array [rows, ...]}`` for one field's value (dict per agent or one shared array)."""
        if isinstance(value, Mapping):
            missing = [a for a in self.agent_ids if a not in value]
            unknown = [a for a in value if a not in self.agent_ids]
            if missing or unknown:
                raise EnvError(f"field {name!r}: expected data for agents {self.agent_ids}; "
                               f"missing {missing}, unknown {unknown}")
        else:
            value = dict.fromkeys(self.agent_ids, value)
        out = {}
        for agent in self.agent_ids:
            item = value[agent]
            if isinstance(item, torch.Tensor):
                item = item.detach().cpu().numpy()
            array = np.asarray(item)
            if not vectorised:
                array = array[None]
            elif array.ndim == 0:
                raise EnvError(f"field {name!r}, agent {agent!r}: is_vectorised=True needs a leading num_envs axis, "
                               "got a scalar")
            out[agent] = array
        return out

    def sample(self, batch_size: int, return_indices: bool = False) -> Any:
        """``batch_size`` distinct stored transitions, drawn with the buffer's RNG.

        Returns:
            A ``Batch`` namedtuple (field order, attribute access by field name) whose fields are dicts
            ``agent_id -> Tensor [batch_size, ...]`` on ``device``; with ``return_indices``, the pair
            ``(batch, indices)`` where ``indices`` is the NumPy array of buffer rows.

        Raises:
            ValueError: ``batch_size`` < 1 or more than the transitions stored.
        """
        indices = self.sample_indices(batch_size)
        batch = self.gather(indices)
        return (batch, indices) if return_indices else batch

    def sample_indices(self, batch_size: int) -> np.ndarray:
        """The buffer rows ``sample(batch_size)`` would gather (the same draw from the buffer's RNG)."""
        if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= self._size:
            raise ValueError(f"sample: batch_size={batch_size!r} must be an integer in [1, len(buffer)={self._size}]"
                             + (" (the buffer is empty)" if self._size == 0 else ""))
        return self._rng.choice(self._size, size=int(batch_size), replace=False)

    def gather(self, indices: np.ndarray) -> Any:
        """A ``Batch`` of the stored rows ``indices`` (any integer array shape ``I``: tensors ``[*I, ...]``)."""
        where = self._index(indices)
        return self.Batch(*({agent: torch.from_numpy(store[where]).to(self.device) if isinstance(store, np.ndarray)
                             else store[where] for agent, store in self._data[name].items()}
                            for name in self.field_names))

    # ----------------------------------------------------------------------------------- storage
    def _allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | torch.Tensor:
        if self.tensor_storage:
            return torch.empty(shape, dtype=_TORCH_DTYPES[np.dtype(dtype)], device=self.device)
        return np.empty(shape, dtype)

    @staticmethod
    def _numpy_dtype(store: np.ndarray | torch.Tensor) -> np.dtype:
        if isinstance(store, np.ndarray):
            return store.dtype
        return next(k for k, v in _TORCH_DTYPES.items() if v == store.dtype)

    def _index(self, indices: np.ndarray) -> np.ndarray | torch.Tensor:
        """Row indices for the storage: as they are for NumPy; sent through pinned memory for a CUDA device."""
        if not self.tensor_storage:
            return indices
        host = torch.from_numpy(np.ascontiguousarray(indices, np.int64))
        if self.device.type == "cuda":
            return host.pin_memory().to(self.device, non_blocking=True)
        return host.to(self.device)

    # ----------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """A snapshot (copied) of the stored transitions, counters and RNG state.

        Contains only tensors, ints, strings, lists and dicts, so it loads with
        ``torch.load(..., weights_only=True)``.
        """
        return {"version": _STATE_VERSION, "memory_size": self.memory_size, "field_names": list(self.field_names),
                "agent_ids": list(self.agent_ids), "size": self._size, "pos": self._pos, "counter": self.counter,
                "rng_state": json.dumps(self._rng.bit_generator.state, default=lambda o: o.tolist()),
                "data": {name: {agent: torch.from_numpy(store[:self._size].copy()) if isinstance(store, np.ndarray)
                                else store[:self._size].cpu().clone() for agent, store in per.items()}
                         for name, per in self._data.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict``; raises ``CheckpointError`` naming whatever does not match."""
        keys = ("version", "memory_size", "field_names", "agent_ids", "size", "pos", "counter", "rng_state", "data")
        missing = [k for k in keys if k not in state]
        if missing:
            raise CheckpointError(f"replay buffer state: missing keys {missing}")
        for key, expected in (("version", _STATE_VERSION), ("memory_size", self.memory_size),
                              ("field_names", self.field_names), ("agent_ids", self.agent_ids)):
            if state[key] != expected:
                raise CheckpointError(f"replay buffer state: {key}={state[key]!r}, but this buffer has {expected!r}")
        size, pos, data = state["size"], state["pos"], state["data"]
        if not (0 <= size <= self.memory_size and 0 <= pos < self.memory_size and state["counter"] >= size
                and (pos == size or size == self.memory_size)):
            raise CheckpointError(f"replay buffer state: inconsistent size={size}, pos={pos}, "
                                  f"counter={state['counter']} for memory_size={self.memory_size}")
        expected_fields = self.field_names if size else []
        if sorted(data) != sorted(expected_fields):
            raise CheckpointError(f"replay buffer state: data has fields {sorted(data)}, expected {expected_fields}")
        for name, per in data.items():
            if sorted(per) != sorted(self.agent_ids):
                raise CheckpointError(f"replay buffer state: field {name!r} has agents {sorted(per)}, "
                                      f"expected {self.agent_ids}")
            for agent, tensor in per.items():
                if not isinstance(tensor, torch.Tensor) or tensor.ndim == 0 or len(tensor) != size:
                    raise CheckpointError(f"replay buffer state: field {name!r}, agent {agent!r}: expected a tensor "
                                          f"with {size} rows, got {getattr(tensor, 'shape', type(tensor).__name__)}")
        try:
            rng_state = json.loads(state["rng_state"])
            type(self._rng.bit_generator)().state = rng_state  # validate on a scratch bit generator
        except (TypeError, ValueError, KeyError) as error:
            raise CheckpointError(f"replay buffer state: rng_state does not fit this buffer's "
                                  f"{type(self._rng.bit_generator).__name__} generator ({error})") from error

        self._rng.bit_generator.state = rng_state
        self._data = {}
        for name, per in data.items():
            self._data[name] = {}
            for agent in self.agent_ids:
                stored = per[agent].cpu().numpy()
                store = self._allocate((self.memory_size, *stored.shape[1:]), stored.dtype)
                store[:size] = stored if isinstance(store, np.ndarray) else torch.from_numpy(stored).to(self.device)
                self._data[name][agent] = store
        self._size, self._pos, self.counter = size, pos, state["counter"]
