"""Where an ATC env's episodes come from: one scenario, random traffic, or a weighted mix with a schedule.

A :class:`TrafficSource` draws the start state of new episodes as :class:`~evo_marl.envs.atc.generator.Traffic`
(padded to the source's agent slots). Three kinds:

* a fixed :class:`~evo_marl.envs.atc.scenarios.Scenario` (agent ids from the file);
* random traffic (:class:`~evo_marl.envs.atc.generator.GeneratorConfig`; ids ``A1..A<max>``);
* a **mix** (scenario ``mix``): weighted entries, each a named scenario, a scenario file or random
  traffic with its own generator settings, and an optional **schedule**. Every sub-env picks an
  entry at each reset; the env has as many agent slots as the largest entry and masks absent ones.

A schedule is a list of stages ``{steps: S, <generator option>: value, ..., weights: [...]}``, sorted
by ``steps``. From ``S`` env steps on (calls of the vector env's ``step``, i.e. env steps per member
divided by the member's ``num_envs``) a stage's options apply to every random entry, on top of the
stages before it; ``weights`` replaces the entry weights. The clock is shared by every env built from
the same ``make_vec_env`` / ``parallel_env`` call (including the population-wide and evaluation envs
a trainer spawns from it) and reads the largest step count of those that drive it: evaluation envs
(``VectorEnv.for_evaluation``, as the trainer's and ``evo-marl evaluate``'s) follow the training env's stage
without moving it on. The clock of a new env starts at ``schedule_at`` (default 0; ``schedule_at:
1000000`` evaluates a curriculum on its last stage); a trainer saves its training env's step count in its
checkpoints (its ``state_dict``), so a resumed run continues its schedule where it stopped, and evaluating
a run folder on its own env starts the clock where training stopped.
Everything is deterministic under the env's seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from evo_marl.envs.atc import generator as gen
from evo_marl.envs.atc.scenarios import MIX_SCENARIO, RANDOM_SCENARIO, Scenario, load_scenario
from evo_marl.errors import ConfigError


class ScheduleClock:
    """The step count a schedule reads: where it started (``schedule_at``) plus the largest ``step`` count of
    the envs that drive it (not evaluation envs)."""

    def __init__(self, start: int = 0) -> None:
        self.start = start
        self._own = 0

    @property
    def steps(self) -> int:
        return self.start + self._own

    def advance(self, own_steps: int) -> None:
        self._own = max(self._own, int(own_steps))


def _scenario_traffic(s: Scenario, n: int, slots: int) -> gen.Traffic:
    rep = lambda v: np.broadcast_to(v, (n, *v.shape)).copy()  # noqa: E731
    t = gen.Traffic(rep(s.start), rep(s.heading_deg), rep(s.waypoint), rep(s.cas_kt), np.ones((n, s.num_agents), bool))
    return gen.pad_traffic(t, slots)


Entry = Scenario | gen.GeneratorConfig


@dataclass(frozen=True)
class Stage:
    """One schedule stage: from ``steps`` on, ``options`` apply to random entries; ``weights`` if given."""

    steps: int
    options: Mapping[str, Any]
    weights: tuple[float, ...] | None = None


class TrafficSource:
    """Draws new episodes for an :class:`~evo_marl.envs.atc.simulator.ATCSimulator` (see the module docstring).

    Args:
        entries: scenarios and generator settings.
        weights: relative frequency of each entry (default: equal).
        schedule: stages, sorted by ``steps``.
        clock: the shared schedule clock (a new one by default).
        name: what the renderer and records call this source.
    """

    def __init__(self, entries: Sequence[Entry], weights: Sequence[float] | None = None,
                 schedule: Sequence[Stage] = (), clock: ScheduleClock | None = None, name: str = MIX_SCENARIO):
        if not entries:
            raise ConfigError("traffic", list(entries), "must hold at least one entry")
        self.entries = list(entries)
        self.weights = _weights(weights, len(self.entries), "weights")
        self.schedule = list(schedule)
        self.clock = clock if clock is not None else ScheduleClock()
        self.name = name
        self._stages = [(0, self.entries, self.weights)]  # (from step, entries, weights), cumulative
        for stage in self.schedule:
            prev_entries, prev_w = self._stages[-1][1], self._stages[-1][2]
            new_entries = [replace(e, **stage.options) if isinstance(e, gen.GeneratorConfig) else e
                           for e in prev_entries]
            new_w = _weights(stage.weights, len(self.entries), f"schedule[steps={stage.steps}].weights") \
                if stage.weights is not None else prev_w
            self._stages.append((stage.steps, new_entries, new_w))
        every = [e for _, ents, _ in self._stages for e in ents]
        self.num_slots = max(_size(e) for e in every)
        self.fixed_size = all(_size(e, smallest=True) == self.num_slots for e in every)
        first = self.entries[0]
        self.agent_ids = tuple(first.agent_ids) if len(self.entries) == 1 and not self.schedule and \
            isinstance(first, Scenario) else tuple(f"A{i + 1}" for i in range(self.num_slots))
        self.max_episode_steps = max(e.max_episode_steps for _, ents, _ in self._stages for e in ents)
        boxes = [e.box_nm for e in self.entries if isinstance(e, gen.GeneratorConfig)]
        self.box_nm = max(boxes) if boxes else None

    @property
    def sectors(self) -> tuple[np.ndarray, ...]:
        first = self.entries[0]
        return first.sectors if len(self.entries) == 1 and isinstance(first, Scenario) else ()

    def stage(self) -> tuple[list[Entry], np.ndarray]:
        """Entries and weights of the stage the clock is in."""
        current = self._stages[0]
        for s in self._stages[1:]:
            if self.clock.steps >= s[0]:
                current = s
        return current[1], current[2]

    def draw(self, n: int, rng: np.random.Generator) -> tuple[gen.Traffic, np.ndarray]:
        """``n`` new episodes padded to ``num_slots``, and each one's step cap ``int64[n]``."""
        entries, weights = self.stage()
        if len(entries) == 1:
            return self._draw_entry(entries[0], n, rng), np.full(n, entries[0].max_episode_steps, np.int64)
        pick = rng.choice(len(entries), size=n, p=weights)
        a = self.num_slots
        out = gen.Traffic(np.zeros((n, a, 2)), np.zeros((n, a)), np.zeros((n, a, 2)), np.zeros((n, a)),
                          np.zeros((n, a), bool))
        caps = np.zeros(n, np.int64)
        for i, entry in enumerate(entries):
            rows = np.flatnonzero(pick == i)
            if rows.size:
                for dst, src in zip(out, self._draw_entry(entry, rows.size, rng)):
                    dst[rows] = src
                caps[rows] = entry.max_episode_steps
        return out, caps

    def _draw_entry(self, entry: Entry, n: int, rng: np.random.Generator) -> gen.Traffic:
        if isinstance(entry, Scenario):
            return _scenario_traffic(entry, n, self.num_slots)
        return gen.pad_traffic(gen.sample(entry, n, rng), self.num_slots)


def _size(entry: Entry, smallest: bool = False) -> int:
    """Largest (or smallest) number of aircraft of the entry's episodes."""
    if isinstance(entry, Scenario):
        return entry.num_agents
    return entry.num_aircraft[0] if smallest else entry.num_aircraft[1]


def _weights(weights: Sequence[float] | None, n: int, name: str) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = list(weights) if isinstance(weights, (list, tuple, np.ndarray)) else None
    if w is None or len(w) != n or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x)
                                       or x < 0 for x in w) or sum(w) <= 0:
        raise ConfigError(name, weights, f"must be a list of {n} non-negative numbers (one per traffic entry) "
                                         "with a positive sum")
    arr = np.asarray(w, np.float64)
    return arr / arr.sum()


# ------------------------------------------------------------------------------ building from options
def _entry(spec: Any, where: str) -> tuple[Entry, float]:
    """One ``traffic`` item: a scenario name / path, or a mapping ``{scenario, weight, **generator options}``."""
    if isinstance(spec, (str, Scenario)):
        spec = {"scenario": spec}
    if not isinstance(spec, Mapping) or "scenario" not in spec:
        raise ConfigError(where, spec, "must be a scenario name or a mapping {scenario: NAME, weight: W, ...}")
    options = dict(spec)
    scenario, weight = options.pop("scenario"), options.pop("weight", 1.0)
    if scenario == RANDOM_SCENARIO:
        return _generator(options, where), weight
    if scenario == MIX_SCENARIO:
        raise ConfigError(f"{where}.scenario", scenario, "a mix cannot contain another mix")
    if options:
        raise ConfigError(f"{where}.{sorted(options)[0]}", options[sorted(options)[0]],
                          f"generator options only apply to scenario '{RANDOM_SCENARIO}', not {scenario!r}")
    return load_scenario(scenario), weight


def _generator(options: Mapping[str, Any], where: str) -> gen.GeneratorConfig:
    valid = gen.GeneratorConfig.option_names()
    for key in options:
        if key not in valid:
            raise ConfigError(f"{where}.{key}" if where else key, options[key],
                              f"unknown random-traffic option; valid options are {sorted(valid)}")
    return gen.GeneratorConfig(**options)


def _stages(schedule: Any, entries: list[Entry]) -> list[Stage]:
    if schedule is None:
        return []
    if not isinstance(schedule, (list, tuple)):
        raise ConfigError("schedule", schedule, "must be a list of stages {steps: S, option: value, ...}")
    stages, last = [], -1
    for i, item in enumerate(schedule):
        where = f"schedule[{i}]"
        if not isinstance(item, Mapping) or "steps" not in item:
            raise ConfigError(where, item, "must be a mapping with 'steps' (when the stage starts) and options")
        options = dict(item)
        steps, weights = options.pop("steps"), options.pop("weights", None)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps <= last:
            raise ConfigError(f"{where}.steps", steps, f"must be an integer > {last} (stages sorted by steps)")
        last = steps
        _generator(options, where)  # names checked here; values when applied to each entry
        for e in entries:
            if isinstance(e, gen.GeneratorConfig):
                replace(e, **options)
        if options and not any(isinstance(e, gen.GeneratorConfig) for e in entries):
            raise ConfigError(where, item, "generator options need a random entry in the traffic")
        stages.append(Stage(steps, options, None if weights is None else tuple(weights)))
    return stages


def default_mix() -> list[dict[str, Any]]:
    """The traffic of ``mix`` without a ``traffic`` option: half random traffic of 2-8 aircraft, half the
    shipped scenarios (equal shares)."""
    from evo_marl.envs.atc.scenarios import shipped_scenarios

    named = shipped_scenarios()
    return [{"scenario": RANDOM_SCENARIO, "num_aircraft": [2, 8], "weight": 1.0},
            *({"scenario": s, "weight": 1.0 / len(named)} for s in named)]


def traffic_source(scenario: str | Scenario, options: dict[str, Any]) -> TrafficSource:
    """The source for ``scenario`` (a name, path or :class:`Scenario`), consuming its options from ``options``.

    ``random`` takes generator options; ``mix`` takes ``traffic`` (a list of entries); both take
    ``schedule`` and ``schedule_at`` (the step the schedule clock starts at, e.g. to evaluate a trained
    curriculum on its last stage); a fixed scenario takes none of them.
    """
    mix_keys = ("traffic", "schedule", "schedule_at")
    if isinstance(scenario, str) and scenario in (MIX_SCENARIO, RANDOM_SCENARIO):
        if scenario == MIX_SCENARIO:
            traffic = options.pop("traffic", None)
            if traffic is None:
                traffic = default_mix()
            if not isinstance(traffic, (list, tuple)) or not traffic:
                raise ConfigError("traffic", traffic, "scenario 'mix' needs a non-empty list of entries, e.g. "
                                  "[{scenario: random, num_aircraft: [2, 8], weight: 3}, {scenario: converging}]")
            pairs = [_entry(t, f"traffic[{i}]") for i, t in enumerate(traffic)]
            entries, weights = [e for e, _ in pairs], [w for _, w in pairs]
            _weights(weights, len(entries), "traffic[*].weight")
        else:  # max_episode_steps stays with the env options (it overrides every source's cap)
            gen_opts = {k: options.pop(k) for k in gen.GeneratorConfig.option_names()
                        if k in options and k != "max_episode_steps"}
            entries, weights = [_generator(gen_opts, "")], None
        start = options.pop("schedule_at", 0)
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ConfigError("schedule_at", start, "must be an integer >= 0 (a schedule step)")
        return TrafficSource(entries, weights, _stages(options.pop("schedule", None), entries), ScheduleClock(start),
                             name=scenario)
    for key in (*mix_keys, *gen.GeneratorConfig.option_names()):
        if key in options and key != "max_episode_steps":
            raise ConfigError(key, options[key], f"only applies to scenario '{RANDOM_SCENARIO}' or "
                                                 f"'{MIX_SCENARIO}', not {scenario!r}")
    s = load_scenario(scenario)
    return TrafficSource([s], name=s.name)
