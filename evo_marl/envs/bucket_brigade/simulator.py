"""The batched Bucket Brigade simulator (a :class:`~evo_marl.envs.native.BatchedSimulator`).

Two modes share all game logic (:mod:`.rules`) and differ only in where the fire uniforms come from:

* ``mode="fast"`` (default): ``[E, H]`` blocks of uniforms from the env's ``numpy.random.Generator``;
* ``mode="parity"``: one ``numpy.random.RandomState`` per env drawing exactly the reference's scalar
  draws in the reference's order (:mod:`.parity`), so a sub-env reset with ``seed`` replays the
  reference env ``reset(seed=seed)`` draw for draw.

Seats given in ``opponents`` are played by scripted agents (:mod:`.agents`) inside the simulator,
drawing from the env's Generator; they are left out of ``possible_agents``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from evo_marl.envs.bucket_brigade import rules
from evo_marl.envs.bucket_brigade.agents import PublicState, ScriptedPolicy, make_policy
from evo_marl.envs.bucket_brigade.observation import ObservationLayout
from evo_marl.envs.bucket_brigade.parity import ParityStreams
from evo_marl.envs.bucket_brigade.scenarios import Scenario, load_scenario
from evo_marl.envs.native import BatchedSimulator
from evo_marl import validation
from evo_marl.errors import ConfigError, EnvError

MODES = ("fast", "parity")


class BucketBrigadeSimulator(BatchedSimulator):
    """Bucket Brigade rules batched over ``num_envs`` sub-envs.

    Args:
        num_envs: number of sub-envs.
        scenario: a built-in name, a ``.json``/``.yaml`` path, a dict or a :class:`Scenario`.
        mode: ``"fast"`` or ``"parity"`` (see the module docstring).
        signal_bit: actions become ``MultiDiscrete([H, 2, 2])`` with a free signal bit.
        max_nights: truncation cap (episodes still running after this many nights are truncated).
        opponents: seats played by scripted agents, ``{"agent_3": "free_rider"}`` or ``{3: "hero"}``;
            a value is a policy name of :data:`~.agents.POLICY_NAMES` or 10 θ numbers.
        num_agents, num_houses: override the scenario's N and H.
        reward_sharing: weight ``w`` in [0, 1] of the team's mean reward in what a learner receives:
            ``(1 - w) * own + w * mean over all seats`` (scripted ones included). 0 (default) is the
            scenario's own, selfish reward; 1 makes every learner maximise the team's return, the
            quantity the scenario tables score. Episode metrics always report the unshared rewards.
        fire_ranks: add the ``fire_ranks`` slice to every observation (the burning houses dealt out to the
            seats in turn; see :mod:`.observation`). Off by default.
        egocentric: every learner observes the ring and the seats from its own home and seat, and its house
            action counts from its home (see :mod:`.observation`). Off by default.
    """

    metadata = {"render_modes": ["ansi"], "name": "bucket_brigade_v0"}

    def __init__(self, num_envs: int, scenario: str | dict | Scenario = "default", *, mode: str = "fast",
                 signal_bit: bool = False, max_nights: int = 100, opponents: Mapping | None = None,
                 num_agents: int | None = None, num_houses: int | None = None, reward_sharing: float = 0.0,
                 fire_ranks: bool = False, egocentric: bool = False):
        super().__init__(num_envs)
        self.scenario = load_scenario(scenario, num_agents=num_agents, num_houses=num_houses)
        if mode not in MODES:
            raise ConfigError("mode", mode, f"must be one of {list(MODES)}")
        if not isinstance(signal_bit, (bool, np.bool_)):
            raise ConfigError("signal_bit", signal_bit, "must be True or False")
        for name, value in (("fire_ranks", fire_ranks), ("egocentric", egocentric)):
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(name, value, "must be True or False")
        if isinstance(max_nights, bool) or not isinstance(max_nights, (int, np.integer)) or max_nights < 1:
            raise ConfigError("max_nights", max_nights, "must be an integer >= 1")
        self.reward_sharing = validation.number("reward_sharing", reward_sharing, 0.0, 1.0)
        self.mode, self.signal_bit, self.max_nights = mode, bool(signal_bit), int(max_nights)
        n, h = self.scenario.num_agents, self.scenario.num_houses
        self.num_agents, self.num_houses = n, h
        self.opponents = self._make_opponents(opponents or {})
        scripted = {int(s) for p in self.opponents for s in p.seats}
        self.learner_seats = np.array([i for i in range(n) if i not in scripted], np.int64)
        self.possible_agents = [f"agent_{i}" for i in self.learner_seats]
        self.layout = ObservationLayout(n, h, self.scenario, self.max_nights, bool(fire_ranks),
                                        bool(egocentric))
        obs_space = self.layout.space()
        act_space = spaces.MultiDiscrete([h, 2, 2] if self.signal_bit else [h, 2])
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: act_space for a in self.possible_agents}
        self.reward_weights = rules.reward_weights(self.scenario, n, h)
        self.p_table = rules.extinguish_probability_table(self.scenario.kappa, n)
        self._action_high = np.array([h, 2, 2], np.uint64)
        self.streams = ParityStreams(self.num_envs) if mode == "parity" else None
        e = self.num_envs
        self.houses = np.zeros((e, h), np.int8)
        self.prev = np.zeros((e, h), np.int8)
        self.locations = np.zeros((e, n), np.int64)
        self.signals = np.zeros((e, n), np.int64)
        self.modes = np.zeros((e, n), np.int64)
        self.night = np.zeros(e, np.int64)
        self.returns = np.zeros((e, n), np.float64)
        self.work_nights = np.zeros(e, np.int64)
        # observe() right after step() keeps its array here; a reset_where() that follows marks the rows
        # it resets, and the next observe() copies the cached array and rebuilds only those rows.
        self._obs_cache: np.ndarray | None = None
        self._obs_dirty: np.ndarray | None = None
        self._stepped = False

    def _make_opponents(self, opponents: Mapping) -> list[ScriptedPolicy]:
        if not isinstance(opponents, Mapping):
            raise ConfigError("opponents", opponents, "must be a mapping seat -> scripted policy, "
                                                      "e.g. {'agent_3': 'free_rider'} or {3: 'hero'}")
        n = self.num_agents
        groups: dict[str, list[int]] = {}
        policies: list[ScriptedPolicy] = []
        for key, spec in opponents.items():
            seat = _seat_index(key, n)
            if any(seat in g for g in groups.values()) or any(seat in p.seats for p in policies):
                raise ConfigError("opponents", key, "names the same seat twice")
            if isinstance(spec, str):
                groups.setdefault(spec, []).append(seat)
            elif isinstance(spec, ScriptedPolicy) and spec.seats.tolist() != [seat]:
                raise ConfigError("opponents", key, f"the policy object plays seats {spec.seats.tolist()}, "
                                                    f"not seat {seat}")
            else:
                policies.append(make_policy(spec, [seat], n, self.num_houses))
        policies += [make_policy(spec, seats, n, self.num_houses) for spec, seats in groups.items()]
        if sum(p.seats.size for p in policies) >= n:
            raise ConfigError("opponents", dict(opponents), f"scripted opponents fill all {n} seats; "
                                                            "leave at least one seat to a learner")
        return policies

    # ---- state ---------------------------------------------------------------------------------
    def seed_parity(self, seeds, envs=None) -> None:
        """Parity mode: seed sub-env ``envs[j]`` (default: every sub-env, in order) with
        ``RandomState(seeds[j])``, as the reference's ``reset(seed)`` does; no-op in fast mode."""
        if self.streams is not None:
            self.streams.seed(seeds, envs)

    def forget_parity_seeds(self) -> None:
        """Parity mode: draw every sub-env's ``RandomState`` seed from the Generator at its next reset."""
        if self.streams is not None:
            self.streams.forget()

    def public_state(self) -> PublicState:
        """What scripted agents see at the start of the coming night."""
        return PublicState(self.houses, self.locations, self.night)

    def reset_where(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        mask = np.asarray(mask, bool)
        count = int(mask.sum())
        if count == 0:
            return
        h = self.num_houses
        u = self.streams.reset_uniforms(mask, h, rng) if self.streams is not None else rng.random((count, h))
        rows = slice(None) if count == self.num_envs else mask
        self.houses[rows] = rules.initial_houses(u, self.scenario.rho)
        for arr in (self.prev, self.locations, self.signals, self.modes, self.night, self.returns, self.work_nights):
            arr[rows] = 0
        if self._obs_cache is not None:
            self._obs_dirty = mask if self._obs_dirty is None else (self._obs_dirty | mask)

    def _gather(self, actions: Mapping[str, Any]) -> np.ndarray:
        width = 3 if self.signal_bit else 2
        try:
            acts = np.stack([actions[a] for a in self.possible_agents], axis=1)
        except KeyError as err:
            raise EnvError(f"actions: missing agent {err.args[0]!r}; expected {self.possible_agents}") from None
        except ValueError as err:
            raise EnvError(f"actions: arrays of different shapes ({err})") from None
        expected = (self.num_envs, len(self.possible_agents), width)
        if acts.shape != expected:
            raise EnvError(f"actions: stacked shape {acts.shape}, expected {expected} "
                           f"(one int[{self.num_envs}, {width}] array per agent: [house, mode"
                           f"{', signal' if self.signal_bit else ''}])")
        if acts.dtype != np.int64:
            acts = acts.astype(np.int64)
        high = self._action_high[:width]
        if (acts.view(np.uint64) >= high).any():  # negative values wrap to huge unsigned ones
            bad = np.argwhere((acts < 0) | (acts >= high))[0]
            raise EnvError(f"actions[{self.possible_agents[bad[1]]!r}]: value {acts[tuple(bad)]} in env {bad[0]} "
                           f"is out of range for MultiDiscrete({high.tolist()})")
        if self.layout.egocentric:  # np.stack made a fresh array: rewrite its houses in place
            acts[..., 0] = self.layout.to_absolute_houses(acts[..., 0], self.learner_seats)
        return acts

    def step(self, actions, rng):
        self._obs_cache, self._obs_dirty, self._stepped = None, None, True
        acts = self._gather(actions)
        if self.opponents:
            full = np.empty((self.num_envs, self.num_agents, 2), np.int64)
            signals = np.empty((self.num_envs, self.num_agents), np.int64)
            full[:, self.learner_seats] = acts[..., :2]
            signals[:, self.learner_seats] = acts[..., -1]
            state = self.public_state()
            for policy in self.opponents:
                a, sig = policy.act(state, rng)
                full[:, policy.seats] = a
                signals[:, policy.seats] = sig if self.signal_bit else a[..., 1]
        else:
            full, signals = acts[..., :2], acts[..., -1]
        house, mode = full[..., 0], full[..., 1]
        work = mode == rules.WORK
        p_ext = np.take(self.p_table, rules.worker_counts(house, work, self.num_houses))
        if self.streams is not None:
            u_ext, u_ign = self.streams.night_uniforms(self.houses, p_ext)
        else:
            u_ext, u_ign = _fast_uniforms(self.houses, p_ext, rng)
        new = rules.fire_night(self.houses, p_ext, self.scenario.rho, u_ext, u_ign)
        reward = rules.rewards(self.prev, new, work, self.reward_weights, self.scenario.c, self.scenario.rest_reward)
        terminated = rules.terminated(new, self.night, self.scenario.min_nights)
        self.houses, self.prev = new, new.copy()
        self.locations, self.modes, self.signals = house.copy(), mode.copy(), signals.copy()
        self.night += 1
        self.returns += reward
        self.work_nights += work.sum(axis=1)
        truncated = (self.night >= self.max_nights) & ~terminated
        if self.reward_sharing:
            w = self.reward_sharing
            reward = (1.0 - w) * reward + w * reward.mean(axis=1, keepdims=True)
        return reward[:, self.learner_seats].astype(np.float32), terminated, truncated, {}

    def _build_obs(self, rows=slice(None)) -> np.ndarray:
        return self.layout.build(self.houses[rows], self.signals[rows], self.locations[rows], self.modes[rows],
                                 self.night[rows], self.learner_seats)

    def observe(self) -> np.ndarray:
        cache, dirty = self._obs_cache, self._obs_dirty
        self._obs_cache = self._obs_dirty = None
        if cache is not None and dirty is not None:  # step -> observe -> reset_where -> observe
            obs = cache.copy()
            obs[dirty] = self._build_obs(dirty)
            return obs
        obs = self._build_obs()
        if self._stepped:
            self._obs_cache, self._stepped = obs, False
        return obs

    def episode_metrics(self) -> dict[str, np.ndarray]:
        """Per sub-env metrics of the current (just finished) episodes, ``float64[E]`` each.

        ``team_return`` (sum over all seats, scripted ones included, and nights), ``learner_return``
        (the same over learner seats only), ``nights``, ``team_reward_per_night`` (the reference's
        metric), ``houses_saved_fraction`` / ``houses_ruined_fraction`` (SAFE / RUINED at the end) and
        ``work_fraction`` (share of agent-nights spent WORKing).
        """
        nights = self.night.astype(np.float64)
        team = self.returns.sum(axis=1)
        h = float(self.num_houses)
        return {
            "team_return": team,
            "learner_return": team.copy() if len(self.learner_seats) == self.num_agents
            else self.returns[:, self.learner_seats].sum(axis=1),
            "nights": nights,
            "team_reward_per_night": team / np.maximum(nights, 1.0),
            "houses_saved_fraction": np.count_nonzero(self.houses == rules.SAFE, axis=1) / h,
            "houses_ruined_fraction": np.count_nonzero(self.houses == rules.RUINED, axis=1) / h,
            "work_fraction": self.work_nights / np.maximum(nights * self.num_agents, 1.0),
        }

    def render(self, env_index: int = 0) -> str:
        """A one-line text picture of one sub-env (``.`` SAFE, ``F`` BURNING, ``#`` RUINED)."""
        ring = "".join(".F#"[s] for s in self.houses[env_index])
        acts = " ".join(f"{i}:{'W' if m else 'R'}@{loc}" for i, (loc, m) in
                        enumerate(zip(self.locations[env_index], self.modes[env_index])))
        return f"night {self.night[env_index]:3d} | houses {ring} | last actions {acts}"


def _fast_uniforms(houses: np.ndarray, p_extinguish: np.ndarray, rng: np.random.Generator):
    """Fast mode: one ``[E, H]`` block of uniforms serves both phases (each house uses at most one
    of them: BURNING houses to extinguish, SAFE houses to ignite); houses put out tonight, which may
    also ignite, get fresh uniforms for ignition. Every decision thus uses an independent uniform."""
    u = rng.random(houses.shape)
    put_out = (houses == rules.BURNING) & (u < p_extinguish)
    count = int(np.count_nonzero(put_out))
    if count == 0:
        return u, u
    u_ign = u.copy()
    u_ign[put_out] = rng.random(count)
    return u, u_ign


def _seat_index(key: Any, num_agents: int) -> int:
    if isinstance(key, str) and key.startswith("agent_") and key[6:].isdigit():
        seat = int(key[6:])
    elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        seat = int(key)
    else:
        raise ConfigError("opponents", key, "seat must be 'agent_<i>' or an integer index")
    if not 0 <= seat < num_agents:
        raise ConfigError("opponents", key, f"seat index must lie in [0, {num_agents})")
    return seat
