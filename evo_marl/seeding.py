"""Explicit random number generators derived from one root seed.

Library code never touches the global ``random``, ``numpy.random`` or ``torch`` generators: every
component receives its own generator, spawned from the run's :class:`numpy.random.SeedSequence`.
"""

from __future__ import annotations

import numpy as np
import torch

SeedLike = int | np.random.SeedSequence | None


def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """A SeedSequence from an int, an existing SeedSequence, or fresh OS entropy for ``None``."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def numpy_rng(seed: SeedLike) -> np.random.Generator:
    """A NumPy Generator seeded from ``seed``."""
    return np.random.default_rng(seed_sequence(seed))


def torch_generator(seed: SeedLike, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch Generator on ``device`` seeded from ``seed`` (64 bits drawn from its SeedSequence)."""
    ss = seed_sequence(seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0]) & 0x7FFF_FFFF_FFFF_FFFF)
    return gen


def int_seed(rng: np.random.Generator) -> int:
    """A fresh 31-bit integer seed drawn from ``rng`` (for APIs that take integer seeds)."""
    return int(rng.integers(0, 2**31 - 1))


class RngState:
    """Checkpoint plumbing for an operator that owns one ``numpy.random.Generator`` as ``self.rng``."""

    rng: np.random.Generator

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


def derived_seed(entropy: int, *key: int) -> int:
    """A 31-bit seed for (purpose, generation, ...) derived from a run's root entropy."""
    return int(np.random.SeedSequence(entropy, spawn_key=tuple(key)).generate_state(1)[0] & 0x7FFFFFFF)


def child_rng(entropy: int, *key: int) -> np.random.Generator:
    """The generator of stream ``key`` of a run's root entropy."""
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=tuple(key)))
