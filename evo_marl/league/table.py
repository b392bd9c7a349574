"""The league table: per-member match counts, reward history and openskill ratings.

Members are keyed by a stable id: ``"m<index>"`` for learned members (population ``index``; a clone made by
selection starts from its parent's rating) and ``"s:<name>"`` for scripted ones. Ratings come from
openskill's Plackett-Luce model: every ``rating_period`` finished games, the members that played in them
meet in one free-for-all ranked by the mean team reward per night of their games in that window (team
rewards are shared, so a member's score is how well the teams it joined did; with round-robin
matchmaking every member meets every teammate equally often, so the ranking measures its own
contribution). The state is plain data (saved in the checkpoint manifest).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evo_marl.errors import CheckpointError, ConfigError


def _model():
    try:
        from openskill.models import PlackettLuce
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ConfigError("league", "openskill", "league ratings need the openskill package: "
                          "pip install 'evo-marl[league]'") from err
    return PlackettLuce()


@dataclass
class MemberStats:
    """One league member's record."""

    kind: str  # "learned" or "scripted"
    parent: str | None = None
    games: int = 0
    seat_steps: int = 0
    mu: float = 25.0
    sigma: float = 25.0 / 3.0
    rewards: deque = field(default_factory=deque)  # team reward per night of its newest games
    rating_history: list = field(default_factory=list)  # [generation, mu, sigma] at each generation's end
    return_history: list = field(default_factory=list)  # [generation, mean team reward per night, games]

    @property
    def ordinal(self) -> float:
        """The conservative rating ``mu - 3 sigma`` (openskill's ordinal)."""
        return self.mu - 3.0 * self.sigma

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "parent": self.parent, "games": self.games, "seat_steps": self.seat_steps,
                "mu": self.mu, "sigma": self.sigma, "rewards": list(self.rewards),
                "rating_history": self.rating_history, "return_history": self.return_history}


class LeagueTable:
    """Statistics and ratings of every member a league has fielded (see the module docstring)."""

    def __init__(self, history: int = 1000):
        self.history = int(history)
        self.members: dict[str, MemberStats] = {}
        self._model = _model()
        self._window: dict[str, list[float]] = {}
        self._generation: dict[str, list[float]] = {}
        self.pending_games = 0  # finished games since the last rating update

    @staticmethod
    def learned_id(member) -> str:
        return f"m{member.index}"

    @staticmethod
    def scripted_id(name: str) -> str:
        return f"s:{name}"

    def _new(self, key: str, kind: str, parent: str | None = None) -> MemberStats:
        stats = MemberStats(kind, parent, rewards=deque(maxlen=self.history))
        if parent is not None and parent in self.members:
            stats.mu, stats.sigma = self.members[parent].mu, self.members[parent].sigma
        self.members[key] = stats
        return stats

    def sync(self, population: list, scripted: list[str]) -> list[str]:
        """League ids of ``population`` then ``scripted`` (positions of the league's seat table); members
        seen for the first time are added (a clone inherits its parent's rating)."""
        ids = []
        for member in population:
            key = self.learned_id(member)
            if key not in self.members:
                parent = None if member.parent is None else f"m{member.parent}"
                self._new(key, "learned", parent)
            ids.append(key)
        for name in scripted:
            key = self.scripted_id(name)
            if key not in self.members:
                self._new(key, "scripted")
            ids.append(key)
        return ids

    def record_games(self, ids: list[str], seats: np.ndarray, per_night: np.ndarray, nights: np.ndarray) -> None:
        """Finished games: ``seats`` ``int[n, S]`` (league positions), team reward per night ``[n]``, nights ``[n]``."""
        self.pending_games += len(per_night)
        for row, score, length in zip(np.asarray(seats), np.asarray(per_night, float), np.asarray(nights)):
            for pos in np.unique(row):
                key = ids[pos]
                stats = self.members[key]
                stats.games += 1
                stats.seat_steps += int(length) * int(np.count_nonzero(row == pos))
                stats.rewards.append(float(score))
                self._window.setdefault(key, []).append(float(score))
                self._generation.setdefault(key, []).append(float(score))

    def update_ratings(self) -> None:
        """Rate the window of finished games (see :meth:`rate`)."""
        window, self._window, self.pending_games = {k: v for k, v in self._window.items() if v}, {}, 0
        if len(window) < 2:
            return
        players = list(window)
        teams = [[self._model.rating(mu=self.members[k].mu, sigma=self.members[k].sigma, name=k)] for k in players]
        scores = [float(np.mean(window[k])) for k in players]
        rated = self._model.rate(teams, scores=scores)
        for key, team in zip(players, rated):
            self.members[key].mu, self.members[key].sigma = float(team[0].mu), float(team[0].sigma)

    def end_generation(self, generation: int, ids: list[str]) -> None:
        """Rate the last window and append every member's rating and mean league return to its history."""
        self.update_ratings()
        for key in ids:
            stats = self.members[key]
            scores = self._generation.get(key, [])
            stats.rating_history.append([generation, stats.mu, stats.sigma])
            stats.return_history.append([generation, float(np.mean(scores)) if scores else math.nan, len(scores)])
        self._generation = {}

    def league_return(self, key: str) -> float:
        """Mean team reward per night of the member's games in the last finished generation (NaN if none)."""
        history = self.members[key].return_history
        return float(history[-1][1]) if history else math.nan

    def ratings(self, ids: list[str]) -> np.ndarray:
        return np.array([self.members[k].mu for k in ids])

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        if self._window or self._generation:
            raise CheckpointError("league table: games are pending; call end_generation() before saving")
        return {"history": self.history, "members": {k: s.to_dict() for k, s in self.members.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.history = int(state["history"])
            members = {}
            for key, data in state["members"].items():
                stats = MemberStats(data["kind"], data["parent"], int(data["games"]), int(data["seat_steps"]),
                                    float(data["mu"]), float(data["sigma"]),
                                    deque(data["rewards"], maxlen=self.history),
                                    [list(r) for r in data["rating_history"]],
                                    [list(r) for r in data["return_history"]])
                members[key] = stats
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"league table state: {type(err).__name__}: {err}") from err
        self.members, self._window, self._generation, self.pending_games = members, {}, {}, 0
