"""Mutable hyperparameters: :class:`RLParameter` ranges grouped in a :class:`HyperparameterConfig`."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo_marl.errors import ConfigError

_DTYPES = {"float": float, "int": int, float: float, int: int}


@dataclass
class RLParameter:
    """The range and mutation step of one hyperparameter.

    A mutation multiplies the current value by ``grow_factor`` or ``shrink_factor`` (equally likely)
    and clips the result to ``[min, max]``; ``dtype=int`` rounds it.

    Args:
        min: smallest allowed value.
        max: largest allowed value.
        grow_factor: factor applied when the value grows (> 1).
        shrink_factor: factor applied when it shrinks (in (0, 1)).
        dtype: ``float`` or ``int``.
    """

    min: float
    max: float
    grow_factor: float = 1.2
    shrink_factor: float = 0.8
    dtype: type = float

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ConfigError("dtype", self.dtype, "must be float or int")
        self.dtype = _DTYPES[self.dtype]
        for name in ("min", "max", "grow_factor", "shrink_factor"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
                raise ConfigError(name, value, "must be a finite number")
        if self.min > self.max:
            raise ConfigError("min", self.min, f"must be <= max ({self.max})")
        if self.grow_factor <= 1:
            raise ConfigError("grow_factor", self.grow_factor, "must be > 1")
        if not 0 < self.shrink_factor < 1:
            raise ConfigError("shrink_factor", self.shrink_factor, "must be in (0, 1)")

    def clip(self, value: float) -> float | int:
        """``value`` clipped to the range and cast to ``dtype``."""
        clipped = min(max(value, self.min), self.max)
        return int(round(clipped)) if self.dtype is int else float(clipped)

    def mutate(self, value: float, rng: np.random.Generator) -> float | int:
        """A new value one grow or shrink step away from ``value`` (ints always move by at least 1)."""
        grow = bool(rng.random() < 0.5)
        new = value * (self.grow_factor if grow else self.shrink_factor)
        if self.dtype is int and round(new) == round(value):
            new = value + (1 if grow else -1)
        return self.clip(new)

    def to_dict(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "grow_factor": self.grow_factor,
                "shrink_factor": self.shrink_factor, "dtype": self.dtype.__name__}


class HyperparameterConfig:
    """The hyperparameters that RL-hyperparameter mutations may change, each with its range.

    ``HyperparameterConfig(lr_actor=RLParameter(min=1e-4, max=1e-2), batch_size=RLParameter(8, 512, dtype=int))``.
    Every population member owns its own copy (:meth:`copy`).
    """

    def __init__(self, **params: RLParameter):
        for name, param in params.items():
            if isinstance(param, dict):
                param = RLParameter(**param)
                params[name] = param
            if not isinstance(param, RLParameter):
                raise ConfigError(name, param, "must be an RLParameter (or a dict of its fields)")
        self.params: dict[str, RLParameter] = dict(params)

    def __getitem__(self, name: str) -> RLParameter:
        return self.params[name]

    def __contains__(self, name: object) -> bool:
        return name in self.params

    def __iter__(self):
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def names(self) -> list[str]:
        return list(self.params)

    def sample(self, rng: np.random.Generator) -> str:
        """A uniformly chosen hyperparameter name."""
        if not self.params:
            raise ConfigError("hp_config", {}, "has no hyperparameters to mutate")
        return self.names()[int(rng.integers(len(self.params)))]

    def copy(self) -> HyperparameterConfig:
        return HyperparameterConfig(**copy.deepcopy(self.params))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: p.to_dict() for name, p in self.params.items()}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, Any]]) -> HyperparameterConfig:
        return cls(**{name: RLParameter(**fields) for name, fields in data.items()})

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}=[{p.min}, {p.max}]" for k, p in self.params.items())
        return f"HyperparameterConfig({inner})"
