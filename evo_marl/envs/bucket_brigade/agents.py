"""Scripted Bucket Brigade agents (spec section 8), vectorised over envs and seats.

A policy plays a fixed set of seats in every env of a batch. It maps the public state at the start of
a night (:class:`PublicState`: houses, every seat's last location, the night number) to actions
``int64[E, S, 2]`` (``[house, mode]``) and signals ``int64[E, S]``. It keeps its own per-env memory
(last action, per-episode random parameters) and notices a new episode by ``night == 0``.

Randomness: ``act(state, rng)`` draws from ``rng`` when given (the simulator passes its env stream,
so opponents are reproducible from ``reset(seed)``), otherwise from the policy's own
``numpy.random.Generator`` (``ScriptedPolicy(..., rng=seed)``), as baselines do.

Policies (:data:`POLICY_NAMES`):

* the five archetypes ``firefighter``, ``free_rider``, ``hero``, ``coordinator``, ``liar`` and
  ``random`` (θ uniform in [0, 1]^10, redrawn per episode and per seat) follow the parameterised
  decision rule (:class:`HeuristicPolicy`; any custom θ of 10 numbers works too);
* ``always_rest``: REST at the own house (``seat mod H``);
* ``specialist``: WORK the lowest-index owned house (``h mod N == seat``) that is burning, else REST at
  the own house;
* ``all_work``: WORK a uniformly random burning house, else REST at the own house;
* ``uniform_random``: house and mode (and signal) uniform.

Non-heuristic policies signal their mode (honest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evo_marl.errors import ConfigError
from evo_marl.seeding import SeedLike, numpy_rng

THETA_NAMES = ("honesty", "work_tendency", "neighbor_help", "own_house_priority", "risk_aversion",
               "coordination", "exploration", "fatigue_memory", "rest_reward_bias", "altruism")
ARCHETYPES: dict[str, tuple[float, ...]] = {
    "firefighter": (1.0, 0.9, 0.5, 0.8, 0.5, 0.7, 0.1, 0.0, 0.0, 0.8),
    "free_rider": (0.7, 0.2, 0.0, 0.9, 0.0, 0.0, 0.1, 0.0, 0.9, 0.0),
    "hero": (1.0, 1.0, 1.0, 0.5, 0.1, 0.5, 0.0, 0.9, 0.0, 1.0),
    "coordinator": (0.9, 0.6, 0.7, 0.6, 0.8, 1.0, 0.05, 0.0, 0.2, 0.6),
    "liar": (0.1, 0.7, 0.0, 0.9, 0.2, 0.8, 0.3, 0.0, 0.4, 0.2),
}
SIMPLE_POLICIES = ("always_rest", "specialist", "all_work", "uniform_random")
POLICY_NAMES = (*ARCHETYPES, "random", *SIMPLE_POLICIES)


@dataclass
class PublicState:
    """What scripted agents see at the start of a night (batched over ``E`` envs)."""

    houses: np.ndarray  # int8[E, H]
    locations: np.ndarray  # int[E, N], house each seat chose last night (0 at reset)
    night: np.ndarray  # int[E], 0 on the first night of an episode


class ScriptedPolicy:
    """Base class: a scripted policy playing ``seats`` of ``num_agents`` seats on ``num_houses`` houses."""

    name = "scripted"

    def __init__(self, seats: Sequence[int], num_agents: int, num_houses: int, rng: SeedLike = None):
        self.seats = np.asarray(seats, dtype=np.int64).reshape(-1)
        if self.seats.size == 0 or self.seats.min() < 0 or self.seats.max() >= num_agents:
            raise ConfigError("seats", list(self.seats), f"must be seat indices in [0, {num_agents})")
        self.num_agents, self.num_houses = int(num_agents), int(num_houses)
        self.home = self.seats % self.num_houses
        self.rng = numpy_rng(rng) if not isinstance(rng, np.random.Generator) else rng

    def act(self, state: PublicState, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Actions ``int64[E, S, 2]`` and signals ``int64[E, S]`` for this policy's seats."""
        return self._act(state, self.rng if rng is None else rng)

    def _act(self, state: PublicState, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def act_on_observations(self, observations, layout, signal_bit: bool = False,
                            rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """Actions ``{"agent_<seat>": int64[E, 2 or 3]}`` from vector-env observations.

        Args:
            observations: ``agent -> float32[E, dim]`` (any one agent's view is enough: the state is
                public) or one ``float32[E, dim]`` array.
            layout: the env's :class:`~.observation.ObservationLayout` (``vec_env.sim.layout``).
            signal_bit: append the signal column (for ``signal_bit=True`` envs).
        """
        obs = next(iter(observations.values())) if isinstance(observations, dict) else observations
        decoded = layout.decode(np.asarray(obs))
        actions, signals = self.act(PublicState(decoded["houses"], decoded["locations"], decoded["night"]), rng)
        actions = layout.to_env_actions(actions, self.seats)
        if signal_bit:
            actions = np.concatenate([actions, signals[..., None]], axis=-1)
        return {f"agent_{seat}": actions[:, j] for j, seat in enumerate(self.seats)}

    def copy_memory(self, source: ScriptedPolicy, rows: np.ndarray) -> None:
        """Take ``source``'s per-env memory of envs ``rows`` as this policy's memory of envs ``0..len(rows)-1``
        (to play copies of running episodes, e.g. in rollouts). Policies without memory have nothing to copy."""

    def _rest_at_home(self, num_envs: int) -> np.ndarray:
        out = np.zeros((num_envs, self.seats.size, 2), np.int64)
        out[..., 0] = self.home
        return out


class AlwaysRest(ScriptedPolicy):
    name = "always_rest"

    def _act(self, state, rng):
        actions = self._rest_at_home(state.houses.shape[0])
        return actions, actions[..., 1].copy()


class UniformRandom(ScriptedPolicy):
    name = "uniform_random"

    def _act(self, state, rng):
        num_envs, s = state.houses.shape[0], self.seats.size
        actions = np.stack([rng.integers(0, self.num_houses, (num_envs, s)), rng.integers(0, 2, (num_envs, s))], -1)
        return actions, rng.integers(0, 2, (num_envs, s))


class Specialist(ScriptedPolicy):
    name = "specialist"

    def __init__(self, seats, num_agents, num_houses, rng=None):
        super().__init__(seats, num_agents, num_houses, rng)
        self.owned = (np.arange(self.num_houses)[None, :] % self.num_agents) == self.seats[:, None]  # [S, H]

    def _act(self, state, rng):
        burning = state.houses == 1
        target = burning[:, None, :] & self.owned[None]  # [E, S, H]
        work = target.any(-1)
        actions = self._rest_at_home(burning.shape[0])
        actions[..., 0] = np.where(work, target.argmax(-1), self.home)
        actions[..., 1] = work
        return actions, actions[..., 1].copy()


def nth_burning_house(burning: np.ndarray, j: np.ndarray) -> np.ndarray:
    """House index ``int[E, S]`` of the ``j[e, s]``-th burning house (0-based) of each ``bool[E, H]`` mask row:
    an inverse CDF over the mask (the last house where ``j`` is not below the row's count of fires)."""
    cum = np.cumsum(burning, axis=-1)  # [E, H]
    return np.minimum((cum[:, None, :] <= j[..., None]).sum(-1), burning.shape[-1] - 1)


class AllWork(ScriptedPolicy):
    name = "all_work"

    def _act(self, state, rng):
        burning = state.houses == 1
        num_envs, s = burning.shape[0], self.seats.size
        count = burning.sum(-1)  # [E]
        j = np.floor(rng.random((num_envs, s)) * count[:, None]).astype(np.int64)  # uniform in [0, count)
        house = nth_burning_house(burning, j)
        work = count[:, None] > 0
        actions = self._rest_at_home(num_envs)
        actions[..., 0] = np.where(work, house, self.home)
        actions[..., 1] = work
        return actions, actions[..., 1].copy()


class HeuristicPolicy(ScriptedPolicy):
    """The parameterised decision rule of spec section 8 with a θ per seat (or redrawn per episode).

    Args:
        theta: ``"random"`` (θ ~ U[0, 1]^10 per seat and episode), an archetype name, or 10 numbers
            (or ``[S, 10]``, one row per seat) in the order of :data:`THETA_NAMES`.
    """

    def __init__(self, seats, num_agents, num_houses, theta="random", rng=None):
        super().__init__(seats, num_agents, num_houses, rng)
        self.redraw = isinstance(theta, str) and theta == "random"
        if isinstance(theta, str):
            if not self.redraw and theta not in ARCHETYPES:
                raise ConfigError("theta", theta, f"unknown archetype; valid names are {[*ARCHETYPES, 'random']}")
            self.name = theta
            theta = np.full(10, 0.5) if self.redraw else np.asarray(ARCHETYPES[theta])
        else:
            self.name = "heuristic"
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape not in ((10,), (self.seats.size, 10)) or not np.all(np.isfinite(theta)):
            raise ConfigError("theta", theta.tolist(), "must be 10 finite numbers (or one row of 10 per seat)")
        self.base_theta = np.broadcast_to(theta, (self.seats.size, 10)).copy()
        s, h = self.seats.size, self.num_houses
        ring = np.abs(np.arange(h)[None, :] - self.home[:, None])
        self.proximity = 0.1 / (1.0 + np.minimum(ring, h - ring))  # [S, H]
        self.is_home = np.arange(h)[None, :] == self.home[:, None]  # [S, H]
        self._theta = np.zeros((0, s, 10))
        self._last = np.zeros((0, s, 2), np.int64)
        self._has_last = np.zeros((0, s), bool)

    def _memory(self, num_envs: int) -> None:
        if self._theta.shape[0] != num_envs:
            s = self.seats.size
            self._theta = np.broadcast_to(self.base_theta, (num_envs, s, 10)).copy()
            self._last = np.zeros((num_envs, s, 2), np.int64)
            self._has_last = np.zeros((num_envs, s), bool)

    def copy_memory(self, source: ScriptedPolicy, rows: np.ndarray) -> None:
        if not isinstance(source, HeuristicPolicy) or source._theta.shape[0] == 0:
            return
        self._theta, self._last = source._theta[rows].copy(), source._last[rows].copy()
        self._has_last = source._has_last[rows].copy()

    def _act(self, state, rng):
        houses, night = state.houses, np.asarray(state.night)
        num_envs, s, h = houses.shape[0], self.seats.size, self.num_houses
        self._memory(num_envs)
        new = night == 0
        if new.any():
            self._has_last[new] = False
            if self.redraw:
                self._theta[new] = rng.random((int(new.sum()), s, 10))
        th = self._theta
        honesty, work_t, nhelp, own_p, risk, coord, explore, fatigue, rest_b, altruism = np.moveaxis(th, -1, 0)
        burning = houses == 1
        own_burning = burning[:, self.home]  # [E, S]
        intent = (work_t + risk * burning.mean(-1)[:, None] + 0.5 * own_p * own_burning) * (1.0 - rest_b)
        intent = np.clip(intent, 0.0, 1.0)
        u = rng.random((5, num_envs, s))
        want = intent > 0.5
        signal = np.where(u[0] < honesty, want, ~want)
        nb_fires = np.roll(burning, 1, axis=-1).astype(np.int64) + np.roll(burning, -1, axis=-1)  # [E, H]
        flat = (state.locations + (np.arange(num_envs) * h)[:, None]).ravel()
        here = np.bincount(flat, minlength=num_envs * h).reshape(num_envs, h)  # agents whose location is h
        score = (self.proximity[None] + own_p[..., None] * self.is_home[None] + 0.5 * burning[:, None, :]
                 + 0.3 * nhelp[..., None] * (nb_fires > 0)[:, None, :] + 0.1 * coord[..., None] * here[:, None, :]
                 - 0.2 * risk[..., None] * nb_fires[:, None, :])
        cum = np.cumsum(np.maximum(score, 0.01), axis=-1)
        house = np.minimum((cum <= (u[1] * cum[..., -1])[..., None]).sum(-1), h - 1)
        mode = np.where(signal, u[2] < honesty, u[2] < intent * altruism).astype(np.int64)
        explore_now = u[3] < explore
        house = np.where(explore_now, rng.integers(0, h, (num_envs, s)), house)
        mode = np.where(explore_now, rng.integers(0, 2, (num_envs, s)), mode)
        repeat = self._has_last & (u[4] < fatigue)
        house = np.where(repeat, self._last[..., 0], house)
        mode = np.where(repeat, self._last[..., 1], mode)
        actions = np.stack([house, mode], axis=-1)
        self._last = actions.copy()
        self._has_last[:] = True
        return actions, signal.astype(np.int64)


def make_policy(spec, seats: Sequence[int], num_agents: int, num_houses: int, rng: SeedLike = None) -> ScriptedPolicy:
    """A scripted policy from a name of :data:`POLICY_NAMES` or a θ of 10 numbers."""
    if isinstance(spec, ScriptedPolicy):
        return spec
    if isinstance(spec, str):
        if spec in SIMPLE_POLICIES:
            cls = {"always_rest": AlwaysRest, "specialist": Specialist, "all_work": AllWork,
                   "uniform_random": UniformRandom}[spec]
            return cls(seats, num_agents, num_houses, rng=rng)
        if spec in ARCHETYPES or spec == "random":
            return HeuristicPolicy(seats, num_agents, num_houses, theta=spec, rng=rng)
        raise ConfigError("policy", spec, f"unknown scripted policy; valid names are {list(POLICY_NAMES)} "
                                          "(or a list of 10 θ numbers)")
    return HeuristicPolicy(seats, num_agents, num_houses, theta=spec, rng=rng)
