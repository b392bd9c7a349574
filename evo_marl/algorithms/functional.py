"""Helpers that let one loss function serve a single member and a stacked population.

The algorithms write their losses over tensors with any leading shape: ``[B, ...]`` for one member,
``[S, B, ...]`` for ``S`` members learning together (:mod:`evo_marl.population`). Hyperparameters are
plain numbers for one member and tensors ``[S]`` (one value per member) for a stack; :func:`per_member`
shapes either to broadcast against a tensor. Random draws go through a :class:`NoiseSource`, so every
member keeps drawing from its own ``torch.Generator`` whichever path runs.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch


class NoiseSource(Protocol):
    """Standard normal and uniform [0, 1) draws of a given shape."""

    def normal(self, shape: torch.Size) -> torch.Tensor: ...

    def uniform(self, shape: torch.Size) -> torch.Tensor: ...


class GeneratorNoise:
    """Draws from one member's generator (the single-member path)."""

    def __init__(self, generator: torch.Generator, device: torch.device):
        self.generator, self.device = generator, device

    def normal(self, shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def uniform(self, shape: torch.Size) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)


def per_member(value: Any, like: torch.Tensor) -> Any:
    """``value`` shaped to broadcast against ``like``: numbers as they are, tensors ``[S]`` as ``[S, 1, ...]``."""
    if isinstance(value, torch.Tensor):
        return value.reshape(value.shape + (1,) * (like.dim() - value.dim()))
    return value


def choose(flag: Any, if_true: torch.Tensor, if_false: torch.Tensor) -> torch.Tensor:
    """``if_true`` where ``flag`` holds: a bool for one member, a bool tensor ``[S]`` per member."""
    if isinstance(flag, torch.Tensor):
        return torch.where(per_member(flag, if_true), if_true, if_false)
    return if_true if flag else if_false
