"""Per-member random draws for stacked computations: each member keeps drawing from its own generator."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class StackedNoise:
    """A :class:`~evo_marl.algorithms.functional.NoiseSource` for shapes ``[S, B, ...]``.

    Member ``s`` draws ``rows[s]`` rows (all ``B`` when ``rows`` is None) of ``shape[2:]`` from
    ``generators[s]`` - exactly what it draws on its own - and padding rows are zero.
    """

    def __init__(self, generators: Sequence[torch.Generator], device: torch.device, rows: Sequence[int] | None = None):
        self.generators, self.device = list(generators), device
        self.rows = None if rows is None else list(rows)

    def _draw(self, shape: torch.Size, fn) -> torch.Tensor:
        if len(shape) < 2 or shape[0] != len(self.generators):
            raise ValueError(f"StackedNoise: shape {tuple(shape)} must be [members={len(self.generators)}, rows, ...]")
        rows = self.rows or [shape[1]] * shape[0]
        draws = [fn((n, *shape[2:]), generator=g, device=self.device) for g, n in zip(self.generators, rows)]
        if all(n == shape[1] for n in rows):
            return torch.stack(draws)
        out = torch.zeros(shape, device=self.device)
        for s, draw in enumerate(draws):
            out[s, :draw.shape[0]] = draw
        return out

    def normal(self, shape: torch.Size) -> torch.Tensor:
        return self._draw(shape, torch.randn)

    def uniform(self, shape: torch.Size) -> torch.Tensor:
        return self._draw(shape, torch.rand)
