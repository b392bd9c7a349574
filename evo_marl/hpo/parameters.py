"""Search spaces: :class:`RLParameter` ranges grouped in a :class:`HyperparameterConfig`.

A range serves two operators: *mutation* (one grow or shrink step from the current value) and
*sampling* (a fresh value, e.g. for random search or a population initialised across the range).
Both work on the parameter's ``scale``:

* ``"linear"``: uniform sampling; mutation multiplies the value by ``grow_factor`` / ``shrink_factor``.
* ``"log"``: log-uniform sampling (learning rates, batch sizes); mutation as for ``linear``.
* ``"horizon"``: for discount-like values in (0, 1) (``gamma``, ``gae_lambda``): sampling is log-uniform
  and mutation multiplicative in the effective horizon ``1 / (1 - value)``, so 0.99 -> 0.992 is one step
  where multiplying 0.99 itself by 1.2 would leave the range.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo_marl import validation
from evo_marl.errors import ConfigError

_DTYPES = {"float": float, "int": int, float: float, int: int}
SCALES = ("linear", "log", "horizon")


@dataclass
class RLParameter:
    """The range, scale and mutation step of one hyperparameter.

    Args:
        min: smallest allowed value.
        max: largest allowed value.
        grow_factor: factor applied when a mutation grows the value (> 1; on the horizon for ``"horizon"``).
        shrink_factor: factor applied when it shrinks (in (0, 1)).
        dtype: ``float`` or ``int`` (ints are rounded and always move by at least 1).
        scale: ``"linear"``, ``"log"`` or ``"horizon"`` (see the module docstring).
    """

    min: float
    max: float
    grow_factor: float = 1.2
    shrink_factor: float = 0.8
    dtype: type = float
    scale: str = "linear"

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ConfigError("dtype", self.dtype, "must be float or int")
        self.dtype = _DTYPES[self.dtype]
        for name in ("min", "max", "grow_factor", "shrink_factor"):
            validation.number(name, getattr(self, name))
        validation.one_of("scale", self.scale, SCALES)
        if self.min > self.max:
            raise ConfigError("min", self.min, f"must be <= max ({self.max})")
        validation.number("grow_factor", self.grow_factor, 1, low_open=True)
        validation.number("shrink_factor", self.shrink_factor, 0, 1, low_open=True, high_open=True)
        if self.scale == "log" and self.min <= 0:
            raise ConfigError("min", self.min, "must be > 0 for scale='log'")
        if self.scale == "horizon" and not 0 <= self.min <= self.max < 1:
            raise ConfigError("max", self.max, "min and max must lie in [0, 1) for scale='horizon'")

    def clip(self, value: float) -> float | int:
        """``value`` clipped to the range and cast to ``dtype``."""
        clipped = min(max(value, self.min), self.max)
        return int(round(clipped)) if self.dtype is int else float(clipped)

    def mutate(self, value: float, rng: np.random.Generator) -> float | int:
        """A new value one grow or shrink step away from ``value`` (ints always move by at least 1)."""
        grow = bool(rng.random() < 0.5)
        factor = self.grow_factor if grow else self.shrink_factor
        if self.scale == "horizon":
            new = 1.0 - (1.0 - value) / factor
        else:
            new = value * factor
        if self.dtype is int and round(new) == round(value):
            new = value + (1 if grow else -1)
        return self.clip(new)

    def sample(self, rng: np.random.Generator) -> float | int:
        """A value drawn across the range on the parameter's scale."""
        if self.scale == "log":
            value = math.exp(rng.uniform(math.log(self.min), math.log(self.max)))
        elif self.scale == "horizon":
            low, high = -math.log(1.0 - self.min), -math.log(1.0 - self.max)
            value = 1.0 - math.exp(-rng.uniform(low, high))
        else:
            value = rng.uniform(self.min, self.max)
        return self.clip(value)

    def to_dict(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "grow_factor": self.grow_factor,
                "shrink_factor": self.shrink_factor, "dtype": self.dtype.__name__, "scale": self.scale}


class HyperparameterConfig:
    """The hyperparameters that mutations may change (and random search may sample), each with its range.

    ``HyperparameterConfig(lr_actor=RLParameter(1e-4, 1e-2, scale="log"), batch_size=RLParameter(8, 512, dtype=int))``.
    Every population member owns its own copy (:meth:`copy`).
    """

    def __init__(self, **params: RLParameter | dict[str, Any]):
        self.params: dict[str, RLParameter] = {}
        for name, param in params.items():
            if isinstance(param, dict):
                validation.no_unknown(f"hp_config.{name}", param, RLParameter.__dataclass_fields__, "range field")
                for bound in ("min", "max"):
                    if bound not in param:
                        raise ConfigError(f"hp_config.{name}.{bound}", None, "is required")
                try:
                    param = RLParameter(**param)
                except ConfigError as err:  # name the parameter: hp_config.lr.min, not min
                    raise err.renamed(f"hp_config.{name}.{err.field}") from None
            if not isinstance(param, RLParameter):
                raise ConfigError(f"hp_config.{name}", param, "must be an RLParameter (or a dict of its fields)")
            self.params[name] = param

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
        """A uniformly chosen hyperparameter name (the one an RL-hyperparameter mutation changes)."""
        if not self.params:
            raise ConfigError("hp_config", {}, "has no hyperparameters to mutate")
        return self.names()[int(rng.integers(len(self.params)))]

    def draw(self, rng: np.random.Generator) -> dict[str, float | int]:
        """A value for every hyperparameter, each drawn across its range (random search, sampled populations)."""
        return {name: param.sample(rng) for name, param in self.params.items()}

    def copy(self) -> HyperparameterConfig:
        return HyperparameterConfig(**copy.deepcopy(self.params))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: p.to_dict() for name, p in self.params.items()}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, Any]]) -> HyperparameterConfig:
        if not isinstance(data, dict):
            raise ConfigError("hp_config", data, "must be a mapping of hyperparameter name -> {min, max, ...}")
        for name, fields in data.items():
            if not isinstance(fields, dict):
                raise ConfigError(f"hp_config.{name}", fields, "must be a mapping with min and max (e.g. {min: 1e-4, max: 1e-2})")
        return cls(**data)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}=[{p.min}, {p.max}]" for k, p in self.params.items())
        return f"HyperparameterConfig({inner})"
