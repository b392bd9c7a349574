"""Typed hyperparameters of each algorithm, and the one conversion from AgileRL-style ``INIT_HP`` dicts.

Every algorithm declares a :class:`Hyperparameters` dataclass (``MADDPG.Hyperparameters``,
``IPPO.Hyperparameters``, ...): one field per hyperparameter with its default, unit and valid range,
checked when the dataclass is built and whenever a value changes (mutations included). The path of
a value is: YAML / ``INIT_HP`` → :func:`split_init_hp` (upper-case AgileRL keys translated once) →
the algorithm's dataclass → the attribute the learner reads (``member.lr_actor``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from evo_marl import validation
from evo_marl.errors import ConfigError

# INIT_HP keys read by the trainers, the buffer or the population factory (never by an algorithm).
RUN_KEYS = frozenset({
    "ALGO", "ENV_NAME", "POP_SIZE", "MEMORY_SIZE", "CHANNELS_LAST", "AGENT_IDS", "N_AGENTS", "NUM_ENVS",
    "MAX_STEPS", "EVO_STEPS", "EVAL_STEPS", "EVAL_LOOP", "LEARNING_DELAY", "TARGET_SCORE", "TOURN_SIZE",
    "ELITISM", "WANDB", "EPISODES", "EVO_EPOCHS", "DISCRETE_ACTIONS", "MAX_ACTION", "MIN_ACTION", "SEED",
})


def hp(default: Any, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
       integer: bool = False, optional: bool = False, boolean: bool = False, doc: str = "") -> Any:
    """A hyperparameter field: its default, valid range and a one-line description with its unit."""
    rule = {"low": low, "high": high, "low_open": low_open, "integer": integer, "optional": optional,
            "boolean": boolean, "doc": doc}
    return dataclasses.field(default=default, metadata={"rule": rule})


def _check(name: str, rule: dict[str, Any], value: Any) -> Any:
    if rule["boolean"]:
        return validation.flag(name, value)
    return validation.number(name, value, rule["low"], rule["high"], low_open=rule["low_open"],
                             integer=rule["integer"], optional=rule["optional"])


@dataclass
class Hyperparameters:
    """Base of every algorithm's hyperparameter dataclass: values are checked on construction and change."""

    agilerl_aliases: ClassVar[dict[str, str]] = {}  # extra upper-case INIT_HP keys -> field names
    _rules: ClassVar[dict[str, dict[str, Any]]]

    def __setattr__(self, name: str, value: Any) -> None:  # also runs for every field in __init__
        rule = self.rules().get(name)
        object.__setattr__(self, name, value if rule is None else _check(name, rule, value))

    @classmethod
    def rules(cls) -> dict[str, dict[str, Any]]:
        if "_rules" not in cls.__dict__:
            cls._rules = {f.name: f.metadata["rule"] for f in dataclasses.fields(cls)}
        return cls._rules

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def numeric_names(cls) -> tuple[str, ...]:
        """Hyperparameters that range mutations may change (numbers, not flags)."""
        return tuple(n for n, r in cls.rules().items() if not r["boolean"])

    @classmethod
    def check_search_range(cls, name: str, low: float, high: float, where: str) -> None:
        """Raise ConfigError unless the search range ``[low, high]`` of ``name`` lies inside its valid range
        (a batch-size range starting at 0 would let mutations reach an invalid value)."""
        rule = cls.rules()[name]
        for bound, value in (("min", low), ("max", high)):
            validation.number(f"{where}.{bound}", value, rule["low"], rule["high"], low_open=rule["low_open"])

    @classmethod
    def agilerl_keys(cls) -> dict[str, str]:
        """Upper-case ``INIT_HP`` key -> field name (``LR_ACTOR`` -> ``lr_actor``)."""
        return {**{n.upper(): n for n in cls.names()}, **cls.agilerl_aliases}

    @classmethod
    def build(cls, base: Hyperparameters | None = None, **changes: Any) -> Hyperparameters:
        """``base`` (or the defaults) with ``changes`` applied; unknown names raise a ConfigError."""
        validation.no_unknown("", changes, cls.names(), what=f"hyperparameter of {cls.__qualname__.split('.')[0]}")
        values = dataclasses.asdict(base) if base is not None else {}
        if base is not None and not isinstance(base, cls):
            raise ConfigError("hp", type(base).__name__, f"must be a {cls.__qualname__}")
        return cls(**{**values, **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> str:
        """One line per hyperparameter: name, default, range and meaning (for docs and ``--help``)."""
        lines = []
        for f in dataclasses.fields(cls):
            rule = f.metadata["rule"]
            rng = "" if rule["boolean"] else f" in [{rule['low']:g}, {rule['high']:g}]"
            lines.append(f"{f.name} = {f.default!r}{rng}: {rule['doc']}")
        return "\n".join(lines)


def split_init_hp(init_hp: dict[str, Any] | None, hyperparameters: type[Hyperparameters],
                  options: dict[str, str], foreign: dict[str, str], algo: str,
                  where: str = "INIT_HP") -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an ``INIT_HP`` dict into ``(hyperparameter values, construction options)`` for one algorithm.

    Upper-case keys are translated (``LR_ACTOR`` -> ``lr_actor``, ``SHARE_PARAMS`` -> ``share_params``);
    lower-case keys are taken as they are. Run keys (``POP_SIZE``, ``MEMORY_SIZE``, ...) are skipped.

    Args:
        options: upper-case key -> constructor option of the algorithm that is not a hyperparameter.
        foreign: upper-case or lower-case key -> name of another algorithm that has it (for the message).
        where: the name of the dict in error messages (``INIT_HP``, ``init_hp`` in YAML).

    Raises:
        ConfigError: for a key of another algorithm or an unknown key (with a suggestion).
    """
    if init_hp is not None and not isinstance(init_hp, dict):
        raise ConfigError(where, init_hp, "must be a mapping of hyperparameter name -> value")
    known = hyperparameters.agilerl_keys()
    lower_options = {v: v for v in options.values()}
    values: dict[str, Any] = {}
    opts: dict[str, Any] = {}
    for key, value in (init_hp or {}).items():
        if key in RUN_KEYS:
            continue
        if key in known or key in hyperparameters.names():
            values[known.get(key, key)] = value
        elif key in options or key in lower_options:
            opts[options.get(key, key)] = value
        elif key in foreign:
            raise ConfigError(f"{where}.{key}", value, f"is a hyperparameter of {foreign[key]}, not of {algo}; "
                              f"valid: {sorted(hyperparameters.names())}")
        else:
            valid = list(known) + list(hyperparameters.names()) + list(options) + sorted(RUN_KEYS)
            raise ConfigError(f"{where}.{key}", value,
                              f"unknown hyperparameter of {algo}{validation.suggestion(key, valid)}")
    return values, opts
