"""Checks of user input shared by every module. Each failure raises :class:`~evo_marl.errors.ConfigError`
naming the field, the value and the rule, so messages read the same wherever a value is checked."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from typing import Any

import numpy as np

from evo_marl.errors import ConfigError


def _raise(error: type[Exception], field: str, value: Any, rule: str) -> None:
    if error is ConfigError:
        raise ConfigError(field, value, rule)
    raise error(f"{field}={value!r}: {rule}")


def _where(low: float, high: float, low_open: bool, high_open: bool) -> str:
    """`` in [0, 1]``, `` >= 1`` or ``""`` for an unbounded range."""
    if math.isinf(high) and math.isinf(low):
        return ""
    if math.isinf(high):
        return f" {'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f" {'<' if high_open else '<='} {high:g}"
    return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def number(field: str, value: Any, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
           high_open: bool = False, integer: bool = False, optional: bool = False,
           error: type[Exception] = ConfigError) -> Any:
    """``value`` as an int/float inside the interval, or ``None`` where ``optional``; else ``error`` (a
    ConfigError unless another :class:`~evo_marl.errors.EvoMarlError` is given, e.g. EnvError)."""
    if optional and value is None:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    ok = ok and math.isfinite(value) and (not integer or float(value).is_integer())
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        kind = "an integer" if integer else "a finite number"
        _raise(error, field, value, f"must be {'None or ' if optional else ''}{kind}{_where(low, high, low_open, high_open)}")
    return int(value) if integer else float(value)


def positive_int(field: str, value: Any, low: int = 1, error: type[Exception] = ConfigError) -> int:
    """An integer ``>= low`` (bools rejected)."""
    return number(field, value, low, integer=True, error=error)


def flag(field: str, value: Any) -> bool:
    """A bool (numpy bools included); anything else is a ConfigError."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(field, value, "must be true or false")
    return bool(value)


def one_of(field: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``; else a ConfigError listing them."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(field, value, f"must be one of {choices}")
    return value


def suggestion(key: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest valid name, or the list of valid names."""
    valid = sorted(str(v) for v in valid)
    guess = get_close_matches(str(key), valid, n=1)
    return f"; did you mean {guess[0]!r}?" if guess else f"; valid: {valid}"


def no_unknown(where: str, given: Mapping[str, Any] | Iterable[str], valid: Iterable[str],
               what: str = "option") -> None:
    """Raise ConfigError for the first key of ``given`` that is not in ``valid`` (with a suggestion)."""
    valid = set(valid)
    for key in given:
        if key not in valid:
            value = given[key] if isinstance(given, Mapping) else key
            raise ConfigError(f"{where}.{key}" if where else str(key), value, f"unknown {what}{suggestion(key, valid)}")


def option_path(options: Any, name: str, value: Any) -> str | None:
    """Where the option ``name`` sits in a nested mapping / list of options (``".traffic[0].num_aircraft"``), so an
    error raised deep inside, with the option's bare name, can name it as the user wrote it; None when it is not
    there, or where more than one place holds ``value`` under that name (ambiguous)."""
    found: list[str] = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, child in node.items():
                if key == name and _same(child, value):
                    found.append(f"{path}.{key}")
                visit(child, f"{path}.{key}")
        elif isinstance(node, (list, tuple)):
            for i, child in enumerate(node):
                visit(child, f"{path}[{i}]")

    visit(options, "")
    return found[0] if len(found) == 1 else None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
