"""The league's own configuration (a nested section ``league:`` of an experiment config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from evo_marl.errors import ConfigError

MATCHMAKERS = ("round_robin", "random", "close_ratings")
SELECTION_KEYS = ("fitness", "rating", "league_return")
SCENARIO_MODES = ("mixed", "sequence")


@dataclass
class LeagueConfig:
    """How a league fills its games and ranks its members.

    Attributes:
        matchmaker: ``round_robin`` (every member plays equally often, seats rotate), ``random`` (members
            drawn uniformly per game) or ``close_ratings`` (teammates drawn with weight
            ``exp(-(mu_i - mu_anchor)^2 / (2 rating_width^2))`` around an anchor taken in round-robin order).
        scripted: scripted Bucket Brigade policies (names of ``POLICY_NAMES``) that join the league as fixed
            members: they take seats like learners but never learn, mutate or get selected.
        selection: what tournament selection ranks by: ``fitness`` (self-play evaluation, the default of
            every trainer), ``rating`` (the conservative openskill rating ``mu - 3 sigma``) or
            ``league_return`` (mean team reward per night of the member's league games this generation).
        rating_period: finished games between two rating updates (0: one per ``num_games`` games).
        rating_width: the ``close_ratings`` kernel width in rating points (openskill's mu starts at 25).
        rollout_steps: vector steps of one shared on-policy rollout (None: the first member's learn_step).
        scenarios: Bucket Brigade scenarios to train over (empty: the env of the run); ``scenario_mode``
            ``mixed`` splits the games evenly among them, ``sequence`` plays one at a time and moves on
            every ``generations_per_scenario`` generations (cycling).
        history: league games kept per member in its reward history (the newest ones).
    """

    matchmaker: str = "round_robin"
    scripted: list[str] = field(default_factory=list)
    selection: str = "fitness"
    rating_period: int = 0
    rating_width: float = 5.0
    rollout_steps: int | None = None
    scenarios: list[str] = field(default_factory=list)
    scenario_mode: str = "mixed"
    generations_per_scenario: int = 1
    history: int = 1000

    def __post_init__(self) -> None:
        _choice("league.matchmaker", self.matchmaker, MATCHMAKERS)
        _choice("league.selection", self.selection, SELECTION_KEYS)
        _choice("league.scenario_mode", self.scenario_mode, SCENARIO_MODES)
        from evo_marl.envs.bucket_brigade.agents import POLICY_NAMES

        if not isinstance(self.scripted, list):
            raise ConfigError("league.scripted", self.scripted, "must be a list of scripted policy names")
        for name in self.scripted:
            if name not in POLICY_NAMES:
                raise ConfigError("league.scripted", name, f"unknown scripted policy; valid names are {list(POLICY_NAMES)}")
        if len(set(self.scripted)) != len(self.scripted):
            raise ConfigError("league.scripted", self.scripted, "must not name a policy twice")
        _integer("league.rating_period", self.rating_period, 0)
        _integer("league.generations_per_scenario", self.generations_per_scenario, 1)
        _integer("league.history", self.history, 1)
        if self.rollout_steps is not None:
            _integer("league.rollout_steps", self.rollout_steps, 1)
        if isinstance(self.rating_width, bool) or not isinstance(self.rating_width, (int, float)) \
                or not self.rating_width > 0:
            raise ConfigError("league.rating_width", self.rating_width, "must be a number > 0")
        if not isinstance(self.scenarios, list) or any(not isinstance(s, str) for s in self.scenarios):
            raise ConfigError("league.scenarios", self.scenarios, "must be a list of Bucket Brigade scenario names")

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def _choice(name: str, value, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(name, value, f"must be one of {list(options)}")


def _integer(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(name, value, f"must be an integer >= {low}")
