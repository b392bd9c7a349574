"""Bucket Brigade scenarios: parameter sets shipped as JSON data, plus users' own.

A scenario is a flat mapping of the fields below (the spec's symbols). The twelve built-in scenarios
live in ``scenarios/<name>.json`` next to this module. :func:`load_scenario` accepts a built-in name,
a path to a ``.json`` / ``.yaml`` / ``.yml`` file, a ``dict`` or a :class:`Scenario`; fields a file
or dict leaves out take the ``default`` scenario's values, and unknown fields are an error.

=============  =====================================================================  ===========
field          meaning                                                                rule
=============  =====================================================================  ===========
beta           fire spread probability (inert under the default rules, observed)      in [0, 1]
kappa          probability that one worker puts out a fire                            in [0, 1]
rho            ignition probability of each SAFE house each night (and at reset)      in [0, 1]
A              team reward scale for SAFE houses: ``A * #SAFE / H`` to every agent     finite
L              team penalty scale for RUINED houses: ``L * #RUINED / H``               finite
c              cost of one night of WORK                                              finite
min_nights     nights before the episode may end                                      integer >= 0
r_own/r_other  bonus when an owned / other house is saved                             finite
p_own/p_other  penalty every night an owned / other house is RUINED                   finite
rest_reward    bonus for one night of REST (0.5 in the reference)                     finite
num_agents     N                                                                      integer >= 1
num_houses     H (houses on the ring)                                                 integer >= 1
name           label (defaults to the file stem or ``"custom"``)                      string
description    free text                                                              string
=============  =====================================================================  ===========
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from evo_marl.errors import ConfigError, EnvError

_DATA_PACKAGE = "evo_marl.envs.bucket_brigade"
_PROBABILITIES = ("beta", "kappa", "rho")
_REALS = ("A", "L", "c", "r_own", "r_other", "p_own", "p_other", "rest_reward")
SPEC_ORDER = ("default", "easy", "hard", "trivial_cooperation", "early_containment", "greedy_neighbor",
              "sparse_heroics", "rest_trap", "chain_reaction", "deceptive_calm", "overcrowding", "mixed_motivation")


@dataclass(frozen=True)
class Scenario:
    """One validated Bucket Brigade parameter set (see the module docstring for the fields)."""

    beta: float = 0.25
    kappa: float = 0.5
    rho: float = 0.02
    A: float = 100.0
    L: float = 100.0
    c: float = 0.5
    min_nights: int = 12
    r_own: float = 20.0
    r_other: float = 0.0
    p_own: float = 40.0
    p_other: float = 0.0
    rest_reward: float = 0.5
    num_agents: int = 4
    num_houses: int = 10
    name: str = "custom"
    description: str = ""

    def __post_init__(self) -> None:
        for key in _PROBABILITIES:
            value = getattr(self, key)
            _check_real(key, value)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"scenario.{key}", value, "a probability must lie in [0, 1]")
        for key in _REALS:
            _check_real(key, getattr(self, key))
        for key, low in (("min_nights", 0), ("num_agents", 1), ("num_houses", 1)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"scenario.{key}", value, f"must be an integer >= {low}")
        for key in ("name", "description"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"scenario.{key}", getattr(self, key), "must be a string")

    def to_dict(self) -> dict[str, Any]:
        """The scenario as a plain dict (round-trips through :func:`load_scenario`)."""
        return asdict(self)

    def with_overrides(self, **overrides: Any) -> Scenario:
        """A copy with some fields replaced (validated like any scenario)."""
        return _from_mapping(overrides, base=self, source="override")


def _check_real(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"scenario.{key}", value, "must be a finite number")


FIELD_NAMES = tuple(f.name for f in fields(Scenario))


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios (the JSON files shipped with the package), in the spec's order."""
    return list(_scenario_names())


@lru_cache(maxsize=1)
def _scenario_names() -> tuple[str, ...]:
    folder = resources.files(_DATA_PACKAGE) / "scenarios"
    names = [p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")]
    rank = {name: i for i, name in enumerate(SPEC_ORDER)}
    return tuple(sorted(names, key=lambda n: (rank.get(n, len(rank)), n)))


@lru_cache(maxsize=None)
def _builtin(name: str) -> Scenario:
    text = (resources.files(_DATA_PACKAGE) / "scenarios" / f"{name}.json").read_text(encoding="utf-8")
    return _from_mapping(json.loads(text), base=Scenario(name=name), source=f"built-in scenario {name!r}")


def _from_mapping(data: Any, base: Scenario, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ConfigError("scenario", data, f"{source} must be a mapping of field -> value")
    unknown = sorted(str(k) for k in data if k not in FIELD_NAMES)
    if unknown:
        raise ConfigError(f"scenario.{unknown[0]}", data[unknown[0]],
                          f"unknown field in {source}; valid fields are {list(FIELD_NAMES)}")
    values = dict(data)
    for key in ("min_nights", "num_agents", "num_houses"):  # 12.0 from YAML/JSON is fine, 12.5 is not
        value = values.get(key)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            values[key] = int(value)
    for key in _PROBABILITIES + _REALS:  # ints are fine for real fields
        if isinstance(values.get(key), int) and not isinstance(values.get(key), bool):
            values[key] = float(values[key])
    return replace(base, **values)


def load_scenario(scenario: str | Path | dict | Scenario, **overrides: Any) -> Scenario:
    """Resolve a scenario from a built-in name, a JSON/YAML file, a dict or a :class:`Scenario`.

    Args:
        scenario: ``"default"`` (any name of :func:`list_scenarios`), a path ending in ``.json``,
            ``.yaml`` or ``.yml``, a dict of fields (missing ones come from ``default``), or a
            ``Scenario``.
        **overrides: fields to replace afterwards, e.g. ``num_agents=6``; ``None`` values are ignored.

    Raises:
        EnvError: unknown scenario name or missing file.
        ConfigError: an invalid or unknown field (the message names the field, value and rule).
    """
    if isinstance(scenario, Scenario):
        resolved = scenario
    elif isinstance(scenario, dict):
        resolved = _from_mapping(scenario, base=_builtin("default").with_overrides(name="custom", description=""),
                                 source="scenario dict")
    elif isinstance(scenario, (str, Path)):
        resolved = _from_name_or_path(scenario)
    else:
        raise EnvError(f"scenario={scenario!r}: must be a scenario name, a .json/.yaml path, a dict or a Scenario")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return resolved.with_overrides(**overrides) if overrides else resolved


def _from_name_or_path(scenario: str | Path) -> Scenario:
    text = str(scenario)
    if text in _scenario_names():
        return _builtin(text)
    path = Path(text)
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise EnvError(f"scenario={text!r}: unknown Bucket Brigade scenario; valid scenarios are "
                       f"{list_scenarios()} (or pass a path to a .json/.yaml file, or a dict)")
    if not path.is_file():
        raise EnvError(f"scenario={text!r}: no such scenario file")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise EnvError(f"scenario file {text!r}: is not UTF-8 text (byte {err.start}: {err.reason})") from err
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ConfigError("scenario", text, f"file is not valid JSON ({err})") from err
    else:
        import yaml

        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError("scenario", text, f"file is not valid YAML ({err})") from err
    base = _builtin("default").with_overrides(name=path.stem, description="")
    return _from_mapping(data, base=base, source=f"scenario file {text!r}")
