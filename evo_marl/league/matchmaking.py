"""Matchmakers: who fills the seats of each new league game.

A matchmaker draws the members of ``count`` new games at once, ``int64[count, seats]`` (league positions:
learned members first, then scripted ones). Seat order is part of the draw, so every member plays every
seat. Within a game members are distinct whenever the league has at least as many members as seats.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from evo_marl.errors import ConfigError
from evo_marl.league.config import MATCHMAKERS


class Matchmaker:
    """Base class: ``pool_size`` members, ``seats`` seats a game, draws from ``rng``."""

    name = "base"

    def __init__(self, pool_size: int, seats: int, rng: np.random.Generator):
        if pool_size < 1 or seats < 1:
            raise ConfigError("league size", pool_size, "a league needs at least one member and one seat")
        self.pool_size, self.seats, self.rng = int(pool_size), int(seats), rng

    def fill(self, count: int, ratings: np.ndarray | None = None) -> np.ndarray:
        """Members of ``count`` new games, ``int64[count, seats]``; ``ratings`` (mu per member) may guide it."""
        raise NotImplementedError


class RoundRobin(Matchmaker):
    """Members are taken in turn from a queue refilled with random permutations of the league, so every
    member plays equally often (counts differ by at most one game's worth of seats at any time)."""

    name = "round_robin"

    def __init__(self, pool_size: int, seats: int, rng: np.random.Generator):
        super().__init__(pool_size, seats, rng)
        self.queue: deque[int] = deque()

    def _next(self, taken: list[int]) -> int:
        distinct = self.pool_size >= self.seats
        for _ in range(2):
            for pos, member in enumerate(self.queue):
                if not distinct or member not in taken:
                    del self.queue[pos]
                    return member
            self.queue.extend(self.rng.permutation(self.pool_size).tolist())
        raise RuntimeError("unreachable: a fresh permutation always holds a member not yet in the game")

    def fill(self, count: int, ratings: np.ndarray | None = None) -> np.ndarray:
        out = np.empty((count, self.seats), np.int64)
        for g in range(count):
            taken: list[int] = []
            for s in range(self.seats):
                taken.append(self._next(taken))
            out[g] = taken
        return out


class RandomMatchmaker(Matchmaker):
    """Every game draws its members uniformly at random (distinct within a game when possible)."""

    name = "random"

    def fill(self, count: int, ratings: np.ndarray | None = None) -> np.ndarray:
        if self.pool_size < self.seats:
            return self.rng.integers(0, self.pool_size, (count, self.seats))
        return np.argsort(self.rng.random((count, self.pool_size)), axis=1)[:, :self.seats].astype(np.int64)


class CloseRatings(RoundRobin):
    """An anchor in round-robin order (so everyone keeps playing), teammates drawn without replacement with
    weight ``exp(-(mu_j - mu_anchor)^2 / (2 width^2))``: members of similar skill play together more often."""

    name = "close_ratings"

    def __init__(self, pool_size: int, seats: int, rng: np.random.Generator, width: float = 5.0):
        super().__init__(pool_size, seats, rng)
        self.width = float(width)

    def fill(self, count: int, ratings: np.ndarray | None = None) -> np.ndarray:
        if ratings is None or self.pool_size <= self.seats:
            return super().fill(count)
        mu = np.asarray(ratings, np.float64)
        out = np.empty((count, self.seats), np.int64)
        for g in range(count):
            anchor = self._next([])
            logw = -((mu - mu[anchor]) ** 2) / (2.0 * self.width**2)
            keys = logw - np.log(-np.log(self.rng.random(self.pool_size).clip(1e-12, 1 - 1e-12)))  # Gumbel top-k
            keys[anchor] = -np.inf
            team = np.concatenate([[anchor], np.argsort(-keys)[:self.seats - 1]])
            out[g] = self.rng.permutation(team)
        return out


def make_matchmaker(name: str, pool_size: int, seats: int, rng: np.random.Generator,
                    width: float = 5.0) -> Matchmaker:
    """A matchmaker by name (one of :data:`~evo_marl.league.config.MATCHMAKERS`)."""
    if name == "round_robin":
        return RoundRobin(pool_size, seats, rng)
    if name == "random":
        return RandomMatchmaker(pool_size, seats, rng)
    if name == "close_ratings":
        return CloseRatings(pool_size, seats, rng, width)
    raise ConfigError("league.matchmaker", name, f"must be one of {list(MATCHMAKERS)}")
