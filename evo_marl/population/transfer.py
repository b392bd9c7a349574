"""Host-to-device copies that never make the host wait (the batched path's only transfers in a learning step).

On a CUDA device a plain ``torch.tensor(values, device=...)`` copies from pageable memory and blocks until
the copy is done; these helpers copy through pinned memory without blocking, and cache small index tensors
(the members selected for an update repeat from step to step). On the CPU they are plain tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` as a tensor on ``device`` (through pinned memory, without waiting, for CUDA)."""
    host = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        return host.pin_memory().to(device, non_blocking=True)
    return host.to(device)


@lru_cache(maxsize=4096)
def _cached(values: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return to_device(np.asarray(values, dtype=torch.empty((), dtype=dtype).numpy().dtype), device)


def index_tensor(values: Sequence[int] | Sequence[bool], device: torch.device, dtype: torch.dtype = torch.int64
                 ) -> torch.Tensor:
    """A small tensor of ``values`` on ``device`` (made once per distinct value tuple and device; do not modify)."""
    return _cached(tuple(values), dtype, torch.device(device))


def member_rows(sel: Sequence[int], num_envs: int) -> np.ndarray:
    """Sub-env rows ``[k*num_envs, (k+1)*num_envs)`` of members ``sel``, in that order."""
    return np.concatenate([np.arange(k * num_envs, (k + 1) * num_envs) for k in sel] or [np.zeros(0, np.int64)])
