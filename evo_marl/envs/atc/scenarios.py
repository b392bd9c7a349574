"""Scenario data: the :class:`Scenario` record, loading and validation of JSON / YAML files.

The shipped scenarios live in ``evo_marl/envs/atc/scenarios/<name>.json``; a user file has the same
format (see the package docstring of :mod:`evo_marl.envs.atc`). Loading never guesses: a file that
is not UTF-8, a missing field, a wrong type, a non-finite or implausible number (a coordinate beyond
+-1000 NM, a latitude beyond +-90, a CAS beyond 1000 kt), a waypoint on top of its start or a duplicate
id raises :class:`~evo_marl.errors.EnvError` listing every problem found.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.errors import EnvError

SCENARIO_DIR = Path(__file__).parent / "scenarios"
RANDOM_SCENARIO = "random"
FILE_SCENARIO = "file"  # env id "atc/file": the scenario file is the option ``file``
MIX_SCENARIO = "mix"
DEFAULT_MAX_EPISODE_STEPS = 100
MAX_COORDINATE_NM = 1000.0  # the local flat frame is meaningful only near its centre
MAX_CAS_KT = 1000.0
_TOP_KEYS = {"name", "description", "max_episode_steps", "centre", "aircraft", "sectors"}
_AIRCRAFT_KEYS = {"id", "start", "start_latlon", "waypoint", "waypoint_latlon", "heading", "cas_kt"}


@dataclass(frozen=True, eq=False)
class Scenario:
    """One fixed scenario in the local frame (NM east / north of the centre).

    Attributes:
        name: scenario name.
        agent_ids: agent ids, in file order (the env's ``possible_agents``).
        start: ``float64[A, 2]`` start positions.
        heading_deg: ``float64[A]`` initial compass headings.
        waypoint: ``float64[A, 2]`` waypoints.
        cas_kt: ``float64[A]`` initial calibrated airspeeds.
        max_episode_steps: the scenario's step cap.
        description: free text.
        sectors: polygons (``float64[k, 2]``) drawn by the renderer.
    """

    name: str
    agent_ids: tuple[str, ...]
    start: np.ndarray
    heading_deg: np.ndarray
    waypoint: np.ndarray
    cas_kt: np.ndarray
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS
    description: str = ""
    sectors: tuple[np.ndarray, ...] = field(default_factory=tuple)

    @property
    def num_agents(self) -> int:
        return len(self.agent_ids)

    def to_dict(self) -> dict[str, Any]:
        """The scenario in file format (``parse_scenario(s.to_dict())`` gives it back)."""
        return {
            "name": self.name,
            "description": self.description,
            "max_episode_steps": self.max_episode_steps,
            "aircraft": [
                {"id": aid, "start": self.start[i].tolist(), "heading": float(self.heading_deg[i]),
                 "waypoint": self.waypoint[i].tolist(), "cas_kt": float(self.cas_kt[i])}
                for i, aid in enumerate(self.agent_ids)
            ],
            "sectors": [s.tolist() for s in self.sectors],
        }

    def save(self, path: str | Path) -> Path:
        """Write the scenario as JSON (or YAML for a ``.yaml`` / ``.yml`` suffix)."""
        path = Path(path)
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        else:
            path.write_text(json.dumps(self.to_dict(), indent=2))
        return path


def shipped_scenarios() -> list[str]:
    """Names of the scenario files shipped with the package."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.json"))


def list_scenarios() -> list[str]:
    """Every scenario name the ``atc`` family builds without options (shipped files plus ``random`` and ``mix``);
    ``file`` (env id ``atc/file``, option ``file=<path>``) loads a user's scenario file."""
    return [*shipped_scenarios(), RANDOM_SCENARIO, MIX_SCENARIO]


def _is_path(name: str) -> bool:
    return name.lower().endswith((".json", ".yaml", ".yml")) or "/" in name or "\\" in name


def load_scenario(scenario: str | Path | Scenario) -> Scenario:
    """A shipped scenario by name, or a user's JSON / YAML file by path."""
    if isinstance(scenario, Scenario):
        return scenario
    if not isinstance(scenario, (str, Path)):
        raise EnvError(f"scenario={scenario!r}: must be a scenario name, a file path or a Scenario")
    if isinstance(scenario, str) and not _is_path(scenario):
        path = SCENARIO_DIR / f"{scenario}.json"
        if not path.is_file():
            raise EnvError(
                f"scenario={scenario!r}: unknown ATC scenario; valid scenarios are {list_scenarios()} "
                "or a path to a .json/.yaml scenario file"
            )
    else:
        path = Path(scenario)
        if not path.is_file():
            raise EnvError(f"scenario file {str(path)!r}: does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise EnvError(f"scenario file {str(path)!r}: is not UTF-8 text (byte {err.start}: {err.reason}); "
                       "save it as UTF-8 JSON or YAML") from err
    except OSError as err:
        raise EnvError(f"scenario file {str(path)!r}: cannot be read ({err.strerror or err})") from err
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:  # noqa: BLE001 - parser errors of either library
        raise EnvError(f"scenario file {str(path)!r}: cannot be parsed ({err})") from err
    return parse_scenario(data, source=str(path), default_name=path.stem)


class _Problems:
    """Collects validation problems so one error lists all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, value: Any, rule: str) -> None:
        self.items.append(f"{where}={value!r}: {rule}")

    def number(self, where: str, value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.add(where, value, "must be a finite number")
            return None
        return float(value)

    def pair(self, where: str, value: Any, limit: tuple[float, float] | None = None,
             rule: str = "") -> tuple[float, float] | None:
        """Two finite numbers, each within ``[-limit[i], limit[i]]`` when ``limit`` is given."""
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            self.add(where, value, "must be a list of two numbers")
            return None
        a, b = self.number(f"{where}[0]", value[0]), self.number(f"{where}[1]", value[1])
        if a is None or b is None:
            return None
        if limit is not None and (abs(a) > limit[0] or abs(b) > limit[1]):
            self.add(where, list(value), rule)
            return None
        return a, b

    def xy(self, where: str, value: Any) -> tuple[float, float] | None:
        """A position of the local frame: x, y in NM, each within +-MAX_COORDINATE_NM."""
        return self.pair(where, value, (MAX_COORDINATE_NM, MAX_COORDINATE_NM),
                         f"each coordinate must lie within +-{MAX_COORDINATE_NM:g} NM of the centre "
                         "(a local frame in nautical miles)")

    def latlon(self, where: str, value: Any) -> tuple[float, float] | None:
        return self.pair(where, value, (90.0, 180.0), "must be [lat, lon] with lat in [-90, 90], lon in [-180, 180]")


def _position(item: Mapping, key: str, where: str, centre: tuple[float, float] | None, p: _Problems):
    """``key`` as (x, y) NM, or ``key + '_latlon'`` converted with the centre."""
    has_xy, has_ll = key in item, f"{key}_latlon" in item
    if has_xy == has_ll:
        p.add(f"{where}.{key}", item.get(key), f"give exactly one of '{key}' (x, y NM) or '{key}_latlon' (lat, lon)")
        return None
    if has_xy:
        return p.xy(f"{where}.{key}", item[key])
    latlon = p.latlon(f"{where}.{key}_latlon", item[f"{key}_latlon"])
    if latlon is None:
        return None
    if centre is None:
        p.add(f"{where}.{key}_latlon", item[f"{key}_latlon"], "lat/lon positions need a 'centre': {lat, lon}")
        return None
    lat0, lon0 = centre
    xy = ((latlon[1] - lon0) * 60.0 * math.cos(math.radians(lat0)), (latlon[0] - lat0) * 60.0)
    return p.xy(f"{where}.{key}_latlon (as x, y NM)", list(xy))


def parse_scenario(data: Any, source: str = "<dict>", default_name: str = "custom") -> Scenario:
    """Validate a scenario mapping (file contents) and build a :class:`Scenario`."""
    if not isinstance(data, Mapping):
        raise EnvError(f"scenario {source}: must be a mapping with an 'aircraft' list, got {type(data).__name__}")
    p = _Problems()
    for key in sorted(set(data) - _TOP_KEYS):
        p.add(key, data[key], f"unknown field; valid fields are {sorted(_TOP_KEYS)}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        p.add("name", name, "must be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        p.add("description", description, "must be a string")
    max_steps = data.get("max_episode_steps", DEFAULT_MAX_EPISODE_STEPS)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        p.add("max_episode_steps", max_steps, "must be an integer >= 1")
    centre = None
    if "centre" in data:
        c = data["centre"]
        if not isinstance(c, Mapping) or "lat" not in c or "lon" not in c:
            p.add("centre", c, "must be a mapping {lat: ..., lon: ...}")
        else:
            centre = p.latlon("centre", [c["lat"], c["lon"]])
    aircraft = data.get("aircraft")
    if not isinstance(aircraft, list) or not aircraft:
        p.add("aircraft", aircraft, "must be a non-empty list of aircraft entries")
        aircraft = []
    ids, starts, waypoints, headings, speeds = [], [], [], [], []
    for i, item in enumerate(aircraft):
        where = f"aircraft[{i}]"
        if not isinstance(item, Mapping):
            p.add(where, item, "must be a mapping with id, start, waypoint")
            continue
        for key in sorted(set(item) - _AIRCRAFT_KEYS):
            p.add(f"{where}.{key}", item[key], f"unknown field; valid fields are {sorted(_AIRCRAFT_KEYS)}")
        aid = item.get("id")
        if not isinstance(aid, str) or not aid:
            p.add(f"{where}.id", aid, "must be a non-empty string")
        elif aid in ids:
            p.add(f"{where}.id", aid, "duplicate agent id; ids must be unique")
        start = _position(item, "start", where, centre, p)
        wp = _position(item, "waypoint", where, centre, p)
        if start is not None and wp is not None and math.dist(start, wp) < 1e-6:
            p.add(f"{where}.waypoint", list(wp), "equals the start position; a waypoint must differ from its start")
        heading = item.get("heading")
        if heading is not None:
            heading = p.number(f"{where}.heading", heading)
        elif start is not None and wp is not None:
            heading = math.degrees(math.atan2(wp[0] - start[0], wp[1] - start[1])) % 360.0
        cas = item.get("cas_kt", 250.0)
        cas = p.number(f"{where}.cas_kt", cas)
        if cas is not None and not 0 < cas <= MAX_CAS_KT:
            p.add(f"{where}.cas_kt", cas, f"must be in (0, {MAX_CAS_KT:g}] kt")
            cas = None
        ids.append(aid)
        starts.append(start)
        waypoints.append(wp)
        headings.append(heading)
        speeds.append(cas)
    sectors = []
    polygons = data.get("sectors") or []
    if not isinstance(polygons, list):
        p.add("sectors", polygons, "must be a list of polygons, each a list of at least three [x, y] points")
        polygons = []
    for k, poly in enumerate(polygons):
        pts = [p.xy(f"sectors[{k}][{j}]", q) for j, q in enumerate(poly)] if isinstance(poly, list) else []
        if len(pts) < 3:
            p.add(f"sectors[{k}]", poly, "must be a list of at least three [x, y] points")
        elif all(q is not None for q in pts):
            sectors.append(np.asarray(pts, dtype=np.float64))
    if p.items:
        raise EnvError(f"scenario {source} is invalid:\n  - " + "\n  - ".join(p.items))
    return Scenario(
        name=name,
        agent_ids=tuple(ids),
        start=np.asarray(starts, dtype=np.float64),
        heading_deg=np.asarray(headings, dtype=np.float64) % 360.0,
        waypoint=np.asarray(waypoints, dtype=np.float64),
        cas_kt=np.asarray(speeds, dtype=np.float64),
        max_episode_steps=max_steps,
        description=description,
        sectors=tuple(sectors),
    )
