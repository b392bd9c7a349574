"""A league across generations: who sits where in every game, scripted members, the table of ratings.

Positions: in a generation the league's members are the population (positions ``0..N-1``) followed by
the scripted members (``N..N+S-1``). ``assignment[g, s]`` is the position of the member in seat ``s`` of
game ``g``; it is drawn by the matchmaker whenever a game starts and stays fixed for the whole episode.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from evo_marl.errors import CheckpointError, ConfigError
from evo_marl.league.config import LeagueConfig
from evo_marl.league.matchmaking import make_matchmaker
from evo_marl.league.table import LeagueTable
from evo_marl.seeding import child_rng

logger = logging.getLogger(__name__)


def layout_of(env):
    """The Bucket Brigade observation layout of ``env`` (None for other families)."""
    layout = getattr(env, "layout", None)
    if layout is None and hasattr(env, "sim"):
        layout = getattr(env.sim, "layout", None)
    return layout


class League:
    """Seat assignment, scripted members and the :class:`LeagueTable` of one league run.

    Args:
        config: the league settings. agents: the env's seats (agent ids, in seat order).
        layout: the Bucket Brigade observation layout (needed for scripted members; None otherwise).
        action_width: ints per env action (2, or 3 with the signal bit).
    """

    def __init__(self, config: LeagueConfig, agents: list[str], layout=None, action_width: int = 2):
        self.config, self.agents = config, list(agents)
        self.seats = len(self.agents)
        if config.scripted and layout is None:
            raise ConfigError("league.scripted", config.scripted, "scripted members exist for Bucket Brigade only")
        self.layout, self.action_width = layout, int(action_width)
        self.table = LeagueTable(config.history)
        self.ids: list[str] = []
        self.num_learned = 0
        self.assignment = np.zeros((0, self.seats), np.int64)
        self._scripted: list = []
        self._scripted_rng: np.random.Generator | None = None
        self.matchmaker = None

    @property
    def pool_size(self) -> int:
        return len(self.ids)

    def begin_generation(self, population: list, generation: int, num_games: int, entropy: int) -> None:
        """Sync the table with ``population`` and draw the first games of generation ``generation``."""
        from evo_marl.envs.bucket_brigade.agents import make_policy

        self.ids = self.table.sync(population, self.config.scripted)
        self.num_learned = len(population)
        if self.pool_size < 2:
            raise ConfigError("population_size", len(population), "a league needs at least two members")
        c = self.config
        self.matchmaker = make_matchmaker(c.matchmaker, self.pool_size, self.seats, child_rng(entropy, 8, generation),
                                          c.rating_width)
        self._scripted_rng = child_rng(entropy, 9, generation)
        seats = range(self.seats)
        self._scripted = [make_policy(name, seats, self.seats, self.layout.num_houses, rng=self._scripted_rng)
                          for name in c.scripted]
        self.assignment = self.matchmaker.fill(num_games, self.table.ratings(self.ids))

    def reassign(self, games: np.ndarray) -> None:
        """Draw new members for the games in ``games`` (bool mask or indices) that start a new episode."""
        rows = np.flatnonzero(games) if np.asarray(games).dtype == bool else np.asarray(games)
        if rows.size:
            self.assignment[rows] = self.matchmaker.fill(rows.size, self.table.ratings(self.ids))

    def cells(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """``(games, seats)`` index arrays of the seats the member at ``position`` holds now."""
        return np.nonzero(self.assignment == position)

    def scripted_actions(self, obs: np.ndarray, env_actions: np.ndarray) -> None:
        """Write the scripted members' actions into ``env_actions`` ``[G, S, width]`` for the seats they hold;
        ``obs`` is ``[G, S, dim]`` (scripted agents read the public state from it)."""
        if not self._scripted:
            return
        from evo_marl.envs.bucket_brigade.agents import PublicState

        decoded = self.layout.decode(obs[:, 0])
        state = PublicState(decoded["houses"], decoded["locations"], decoded["night"])
        for j, policy in enumerate(self._scripted):
            mask = self.assignment == self.num_learned + j
            actions, signals = policy.act(state)  # every seat of every game: keeps per-env memory consistent
            if not mask.any():
                continue
            env_actions[mask, :2] = self.layout.to_env_actions(actions, np.arange(self.seats))[mask]
            if self.action_width > 2:
                env_actions[mask, 2] = signals[mask]

    def finish_games(self, games: np.ndarray, team_return: np.ndarray, nights: np.ndarray) -> None:
        """Record finished games (before their seats are reassigned) and rate every ``rating_period`` games."""
        rows = np.flatnonzero(games)
        if not rows.size:
            return
        per_night = team_return[rows] / np.maximum(nights[rows], 1)
        self.table.record_games(self.ids, self.assignment[rows], per_night, nights[rows])
        period = self.config.rating_period or len(self.assignment)
        if self.table.pending_games >= period:
            self.table.update_ratings()

    def end_generation(self, generation: int) -> None:
        self.table.end_generation(generation, self.ids)

    # ----------------------------------------------------------------- selection
    def selection_score(self, member) -> float:
        """What tournament selection ranks ``member`` by: its rating ordinal (``selection: rating``) or its
        league return of the generation just played (``league_return``); failed members rank last."""
        stats = self.table.members.get(LeagueTable.learned_id(member))
        if stats is None or getattr(member, "failed", False):
            return -np.inf
        value = stats.ordinal if self.config.selection == "rating" else self.table.league_return(
            LeagueTable.learned_id(member))
        return value if np.isfinite(value) else -np.inf

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "table": self.table.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("config", {})
        current = self.config.to_dict()
        for key in sorted(set(saved) | set(current)):
            if saved.get(key) != current.get(key):
                raise CheckpointError(f"league checkpoint is from another league configuration: {key} was "
                                      f"{saved.get(key)!r}, now {current.get(key)!r}")
        self.table.load_state_dict(state["table"])
