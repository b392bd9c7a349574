"""Per-agent observation of Bucket Brigade: layout, batched construction, decoding, space.

Every agent sees the reference's global view plus its own identity. With ``N`` seats (all agents,
scripted opponents included) and ``H`` houses, the ``float32`` vector of the agent in seat ``i`` is:

=================  ==========  ==================================================================
slice              length      content
=================  ==========  ==================================================================
``houses``         ``3H``      one-hot house states, house-major: index ``3h + s`` with
                               ``s`` = SAFE 0 / BURNING 1 / RUINED 2 (fires seen tonight)
``signals``        ``N``       every seat's signal of last night (= its mode unless the signal-bit
                               variant is on; 0 at reset)
``locations``      ``N*H``     one-hot house each seat chose last night, seat-major: index
                               ``n*H + h`` (0 at reset). This is also the house of each seat's last
                               action, so the reference's ``last_actions[:, 0]`` is not repeated.
``last_modes``     ``N``       1 where the seat WORKed last night (``last_actions[:, 1]``)
``identity``       ``N``       one-hot of the observing agent's own seat ``i``
``scenario``       ``12``      beta, kappa, rho, A/100, L/100, r_own/100, r_other/100, p_own/100,
                               p_other/100, c, min_nights/10, N/10
``time``           ``2``       night / max_nights, and 1 once ``night >= min_nights`` (the episode
                               ends after any night without fire from then on)
``fire_ranks``     ``H*N``     only with the ``fire_ranks`` option: house-major, index ``h*N + j`` is 1
                               where house ``h`` burns and its rank ``r`` among the ``k`` burning houses
                               (in house order) satisfies ``r mod k == j mod k`` -- the fires dealt out
                               to seats ``0..N-1`` in turn
=================  ==========  ==================================================================

Total ``3H + N*H + 3N + 14`` (96 for the default N = 4, H = 10), plus ``H*N`` with ``fire_ranks``.

With the ``egocentric`` option every agent sees the ring and the other seats from where it stands: the
agent in seat ``i`` has its home ``o_i = i mod H`` (the house a scripted agent calls its own) as house 0
and itself as seat 0. Its view is the one above with house ``h`` written at ``(h - o_i) mod H`` (in
``houses``, in the location one-hots and in ``fire_ranks``) and seat ``m`` at ``(m - i) mod N`` (in
``signals``, ``locations``, ``last_modes`` and the seat axis of ``fire_ranks``); ``identity`` stays the
absolute seat, so ownership can still be told apart. Its house *action* is relative too: ``a`` means
house ``(a + o_i) mod H``. A policy shared by all seats then makes the same choice *relative to each
seat's home* -- "the burning house nearest to me" sends seats at different homes to different fires -- where
in the absolute frame it sends every seat to the same house unless it learns to split them by identity.

``fire_ranks`` is a public coordination device: one deal of the fires to the seats that every agent sees.
One policy shared by all seats and played greedily sends every seat to the same burning house unless it
can tell the seats' shares of the fires apart; with this slice and its identity one-hot it can (or ignore
it). It decides nothing for the agents: whether to work, and where, is still learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from gymnasium import spaces

from evo_marl.envs.bucket_brigade.scenarios import Scenario

NUM_SCENARIO_FEATURES = 12


def scenario_features(s: Scenario) -> np.ndarray:
    """The 12 scenario features of the spec, scaled to O(1) (see the module docstring)."""
    return np.array([s.beta, s.kappa, s.rho, s.A / 100, s.L / 100, s.r_own / 100, s.r_other / 100,
                     s.p_own / 100, s.p_other / 100, s.c, s.min_nights / 10, s.num_agents / 10], np.float32)


def fire_rank_table(burning: np.ndarray, num_seats: int) -> np.ndarray:
    """``bool[E, H, N]``: house ``h`` burns and its rank among the burning houses is ``j`` modulo their count."""
    count = np.maximum(burning.sum(axis=1), 1)[:, None, None]
    rank = np.cumsum(burning, axis=1)[:, :, None] - 1
    seats = np.arange(num_seats)[None, None, :]
    return burning[:, :, None] & ((rank - seats) % count == 0)


@dataclass(frozen=True)
class ObservationLayout:
    """Index ranges of the observation vector for ``N`` seats and ``H`` houses."""

    num_agents: int
    num_houses: int
    scenario: Scenario
    max_nights: int
    fire_ranks: bool = False
    egocentric: bool = False

    @cached_property
    def slices(self) -> dict[str, slice]:
        n, h = self.num_agents, self.num_houses
        sizes = [("houses", 3 * h), ("signals", n), ("locations", n * h), ("last_modes", n), ("identity", n),
                 ("scenario", NUM_SCENARIO_FEATURES), ("time", 2)] + ([("fire_ranks", h * n)] if self.fire_ranks else [])
        out, start = {}, 0
        for name, size in sizes:
            out[name] = slice(start, start + size)
            start += size
        return out

    @cached_property
    def features(self) -> np.ndarray:
        return scenario_features(self.scenario)

    @cached_property
    def dim(self) -> int:
        return next(reversed(self.slices.values())).stop

    @cached_property
    def homes(self) -> np.ndarray:
        """``int64[N]``: the house each seat counts from in the egocentric frame (``seat mod H``)."""
        return np.arange(self.num_agents) % self.num_houses

    @cached_property
    def _frame_columns(self) -> np.ndarray:
        """``int64[N, dim]``: seat ``i``'s egocentric view is ``absolute_view[..., _frame_columns[i]]``."""
        n, h, sl = self.num_agents, self.num_houses, self.slices
        columns = np.tile(np.arange(self.dim), (n, 1))
        for i in range(n):
            house = (np.arange(h) + self.homes[i]) % h  # absolute house shown at relative index r
            seat = (np.arange(n) + i) % n  # absolute seat shown at relative slot q
            col = columns[i]
            col[sl["houses"]] = sl["houses"].start + (3 * house[:, None] + np.arange(3)).ravel()
            col[sl["signals"]] = sl["signals"].start + seat
            col[sl["last_modes"]] = sl["last_modes"].start + seat
            col[sl["locations"]] = sl["locations"].start + (h * seat[:, None] + house[None, :]).ravel()
            if self.fire_ranks:
                col[sl["fire_ranks"]] = sl["fire_ranks"].start + (n * house[:, None] + seat[None, :]).ravel()
        return columns

    @cached_property
    def _absolute_columns(self) -> np.ndarray:
        """``int64[N, dim]``: the inverse permutations of :attr:`_frame_columns`."""
        return np.argsort(self._frame_columns, axis=1)

    def to_env_actions(self, actions: np.ndarray, seats) -> np.ndarray:
        """``[house, mode]`` actions ``int[..., len(seats), 2]`` chosen in absolute houses (scripted agents) as the
        env expects them from those seats: unchanged, or a copy with houses relative to each seat's home with
        ``egocentric``."""
        actions = np.asarray(actions)
        if not self.egocentric:
            return actions
        out = actions.copy()
        out[..., 0] = (actions[..., 0] - self.homes[np.asarray(seats)]) % self.num_houses
        return out

    def to_absolute_houses(self, houses: np.ndarray, seats) -> np.ndarray:
        """The houses that seats' house actions name (the inverse of :meth:`to_env_actions` on houses)."""
        houses = np.asarray(houses)
        if not self.egocentric:
            return houses
        return (houses + self.homes[np.asarray(seats)]) % self.num_houses

    def space(self) -> spaces.Box:
        """A ``Box`` with tight finite bounds (one-hots in [0, 1], scenario features as they are)."""
        low = np.zeros(self.dim, np.float32)
        high = np.ones(self.dim, np.float32)
        feats = scenario_features(self.scenario)
        sl = self.slices["scenario"]
        low[sl] = np.minimum(feats, 0.0)
        high[sl] = np.maximum(feats, 1.0)
        return spaces.Box(low, high, (self.dim,), np.float32)

    @cached_property
    def _onehot_columns(self) -> np.ndarray:
        """Column of the first one-hot slot of every house and every seat's location, ``int64[H + N]``."""
        sl = self.slices
        houses = sl["houses"].start + 3 * np.arange(self.num_houses)
        locations = sl["locations"].start + self.num_houses * np.arange(self.num_agents)
        return np.concatenate([houses, locations])

    def build(self, houses: np.ndarray, signals: np.ndarray, locations: np.ndarray, modes: np.ndarray,
              night: np.ndarray, seats: np.ndarray) -> np.ndarray:
        """Observations ``float32[E, len(seats), dim]`` from the batched state (a fresh array).

        The part shared by all agents is built once per env (the one-hots by one flat index write),
        then broadcast to every seat, and the identity one-hots are written last.
        """
        num_envs, dim, sl = houses.shape[0], self.dim, self.slices
        shared = np.zeros((num_envs, dim), np.float32)
        hot = np.concatenate([houses, locations], axis=1) + self._onehot_columns
        hot += (np.arange(num_envs) * dim)[:, None]
        shared.reshape(-1)[hot.ravel()] = 1.0
        shared[:, sl["signals"]] = signals
        shared[:, sl["last_modes"]] = modes
        shared[:, sl["scenario"]] = self.features
        t = sl["time"].start
        shared[:, t] = night / self.max_nights
        shared[:, t + 1] = night >= self.scenario.min_nights
        if self.fire_ranks:
            shared[:, sl["fire_ranks"]] = fire_rank_table(houses == 1, self.num_agents).reshape(num_envs, -1)
        if self.egocentric:
            obs = shared[:, self._frame_columns[np.asarray(seats)]]
        else:
            obs = np.empty((num_envs, len(seats), dim), np.float32)
            obs[:] = shared[:, None, :]
        obs[:, :, sl["identity"]] = np.eye(self.num_agents, dtype=np.float32)[np.asarray(seats)]
        return obs

    def decode(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Recover the public state from observations ``[..., dim]`` (any agent's; leading dims kept), in
        absolute houses and seats whatever the frame.

        Returns ``houses`` (int8[..., H]), ``signals``, ``locations``, ``modes`` (int64[..., N]),
        ``night`` (int64[...]) and ``seat`` (int64[...]).
        """
        obs = np.asarray(obs)
        sl = self.slices
        lead = obs.shape[:-1]
        seat = obs[..., sl["identity"]].argmax(-1).astype(np.int64)
        if self.egocentric:
            obs = np.take_along_axis(obs, self._absolute_columns[seat], axis=-1)
        houses = obs[..., sl["houses"]].reshape(*lead, self.num_houses, 3).argmax(-1).astype(np.int8)
        locations = obs[..., sl["locations"]].reshape(*lead, self.num_agents, self.num_houses).argmax(-1)
        night = np.rint(obs[..., sl["time"].start] * self.max_nights).astype(np.int64)
        return {
            "houses": houses,
            "signals": np.rint(obs[..., sl["signals"]]).astype(np.int64),
            "locations": locations.astype(np.int64),
            "modes": np.rint(obs[..., sl["last_modes"]]).astype(np.int64),
            "night": night,
            "seat": seat,
        }
