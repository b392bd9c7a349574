"""Cross-play, ad-hoc teams and free-rider detection for Bucket Brigade policies.

A *lineup* names the player of every seat: a learned member (an evo-marl algorithm, acting without
exploration) or a scripted policy name (:data:`~evo_marl.envs.bucket_brigade.agents.POLICY_NAMES`).
:func:`play_lineup` plays whole episodes of a lineup, rotating it over the seats (seats differ: with 4
agents and 10 houses seats 0-1 own three houses, seats 2-3 two), and reports per-episode team reward
per night and, per seat, return and nights worked. ``env_kwargs`` are options of the env every lineup plays
(``fire_ranks``, ``signal_bit``, ``egocentric``: those the learned members were trained with, see
:data:`PLAY_OPTIONS`).

* :func:`crossplay` — rows (usually learned members) in ``row_seats`` seats with a partner in the others:
  ``row_seats=2`` is the cross-play matrix, ``row_seats=1`` the ad-hoc table (one learned agent with three
  scripted teammates of each archetype).
* Free-riding: for each cell, the row's **work share** (its seats' WORK nights over the team's) against its
  **reward share** (its seats' return over the team's). A row whose work share is below
  ``free_rider_ratio`` x its fair share (``row_seats / seats``) is flagged a free rider.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evo_marl.envs.bucket_brigade.agents import PublicState, make_policy
from evo_marl.envs.bucket_brigade.baselines import mean_ci
from evo_marl.envs.episodes import acting_greedily
from evo_marl.errors import ConfigError

PLAY_OPTIONS = ("fire_ranks", "signal_bit", "egocentric")  # env options that change what a member observes or does
DEFAULT_PARTNERS = ("all_work", "coordinator", "firefighter", "hero", "specialist", "free_rider", "liar", "random")


def _label(player) -> str:
    return player if isinstance(player, str) else f"m{player.index}"


@dataclass
class LineupResult:
    """Per-episode results of one lineup: ``per_night [E]``, ``returns [E, S]``, ``work [E, S]``, ``nights [E]``
    (seats in the lineup's own order, whatever rotation an episode used)."""

    per_night: np.ndarray
    returns: np.ndarray
    work: np.ndarray
    nights: np.ndarray


def play_options(env_kwargs: Mapping | None) -> dict:
    """The :data:`PLAY_OPTIONS` among ``env_kwargs`` (a run's ``env.kwargs``); other options (reward sharing,
    scripted opponents) belong to training, not to the games a lineup plays."""
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise ConfigError("env_kwargs", env_kwargs, "must be a mapping of env options, e.g. {'fire_ranks': True}")
    return {k: v for k, v in (env_kwargs or {}).items() if k in PLAY_OPTIONS}


def play_lineup(lineup: Sequence, scenario="default", episodes: int = 200, seed: int = 0, rotate: bool = True,
                max_nights: int = 100, env_kwargs: Mapping | None = None) -> LineupResult:
    """Play ``episodes`` episodes of ``lineup`` (one player per seat) on ``scenario``.

    With ``rotate`` the lineup is shifted round the seats (episode block ``r`` puts lineup entry ``i`` in
    seat ``(i + r) mod S``), splitting the episodes evenly over the ``S`` rotations. ``env_kwargs``: the
    env options of :data:`PLAY_OPTIONS` the learned players were trained with (others are ignored).
    """
    from evo_marl.envs.bucket_brigade.views import vec_env

    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 2:
        raise ConfigError("episodes", episodes, "must be an integer >= 2")
    options = play_options(env_kwargs)
    probe = vec_env(scenario, num_envs=1, max_nights=max_nights, **options)
    s = probe.sim.num_agents
    if len(lineup) != s:
        raise ConfigError("lineup", [_label(p) for p in lineup], f"must name one player per seat ({s} seats)")
    for player in lineup:
        if not isinstance(player, str):
            _check_player_fits(player, probe, options)
    shifts = list(range(s)) if rotate else [0]
    sizes = [episodes // len(shifts) + (i < episodes % len(shifts)) for i in range(len(shifts))]
    parts = []
    for r, (shift, size) in enumerate(zip(shifts, sizes)):
        if size == 0:
            continue
        seats_of = [(i + shift) % s for i in range(s)]  # lineup entry i plays seat seats_of[i]
        res = _play(lineup, seats_of, scenario, size, seed * 1000 + r, max_nights, options)
        parts.append(res)
    return LineupResult(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                          ("per_night", "returns", "work", "nights")))


def _check_player_fits(player, env, options: dict) -> None:
    from evo_marl.algorithms.spaces import space_mismatch

    mismatch = space_mismatch(player, env, next(iter(player.observation_spaces)))
    if mismatch is not None:
        kind, mine, theirs = mismatch
        raise ConfigError("env_kwargs", options, f"gives an env whose {kind} space {theirs} differs from member "
                          f"m{player.index}'s {mine}: pass the env options it was trained with "
                          f"(those of {list(PLAY_OPTIONS)} in its run's env.kwargs)")


def _play(lineup, seats_of, scenario, episodes, seed, max_nights, options) -> LineupResult:
    from evo_marl.envs.bucket_brigade.views import vec_env

    env = vec_env(scenario, num_envs=episodes, seed=seed, max_nights=max_nights, **options)
    agents, s, h = env.agents, env.sim.num_agents, env.sim.num_houses
    width = env.single_action_space(agents[0]).shape[0]
    groups: dict[int, tuple] = {}
    for i, player in enumerate(lineup):
        groups.setdefault(id(player) if not isinstance(player, str) else hash(("s", player)), (player, []))[1].append(
            seats_of[i])
    rng = np.random.default_rng(seed)
    scripted = {key: make_policy(p, seats, s, h, rng=rng) for key, (p, seats) in groups.items() if isinstance(p, str)}
    learned = [player for player, _ in groups.values() if not isinstance(player, str)]
    with acting_greedily(learned):  # learned players act without exploration, their modes back afterwards
        obs, _ = env.reset(seed=seed)
        done = np.zeros(episodes, bool)
        returns, work = np.zeros((episodes, s)), np.zeros((episodes, s))
        nights = np.zeros(episodes)
        actions = np.zeros((episodes, s, width), np.int64)
        for _ in range(max_nights + 1):
            state = None
            for key, (player, seats) in groups.items():
                if isinstance(player, str):
                    if state is None:
                        decoded = env.sim.layout.decode(obs[agents[0]])
                        state = PublicState(decoded["houses"], decoded["locations"], decoded["night"])
                    act, signal = scripted[key].act(state)
                    actions[:, seats, :2] = env.sim.layout.to_env_actions(act, seats)
                    if width > 2:
                        actions[:, seats, 2] = signal
                else:
                    env_act, _ = player.get_action({agents[seat]: obs[agents[seat]] for seat in seats})
                    for seat in seats:
                        actions[:, seat] = env_act[agents[seat]]
            obs, rewards, _, _, infos = env.step({a: actions[:, i] for i, a in enumerate(agents)})
            live = ~done
            returns[live] += np.stack([rewards[a] for a in agents], 1)[live]
            work[live] += actions[live, :, 1] == 1
            nights[live] += 1
            done |= infos["final_mask"]
            if done.all():
                break
        order = np.asarray(seats_of)
        per_night = returns.sum(1) / np.maximum(nights, 1)
        return LineupResult(per_night, returns[:, order], work[:, order], nights)


@dataclass
class CrossPlay:
    """A table of lineups: row player in ``row_seats`` seats, column partner in the others.

    ``mean`` / ``half`` (95% CI half-width) of team reward per night, ``work_share`` / ``reward_share`` of
    the row's seats, all ``[rows, cols]``.
    """

    rows: list[str]
    cols: list[str]
    row_seats: int
    seats: int
    episodes: int
    mean: np.ndarray
    half: np.ndarray
    work_share: np.ndarray
    reward_share: np.ndarray
    free_rider_ratio: float = 0.5
    meta: dict = field(default_factory=dict)

    @property
    def fair_share(self) -> float:
        return self.row_seats / self.seats

    @property
    def free_riders(self) -> np.ndarray:
        """``bool[rows, cols]``: the row works less than ``free_rider_ratio`` x its fair share."""
        return self.work_share < self.free_rider_ratio * self.fair_share

    def to_markdown(self, digits: int = 1) -> str:
        lines = ["| player | " + " | ".join(self.cols) + " |", "|---|" + "---:|" * len(self.cols)]
        for i, row in enumerate(self.rows):
            cells = [f"{self.mean[i, j]:.{digits}f} ± {self.half[i, j]:.{digits}f}" for j in range(len(self.cols))]
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def free_rider_markdown(self) -> str:
        lines = ["| player | teammates | work share | reward share | fair share | free rider |", "|---|---|---:|---:|---:|---|"]
        for i, row in enumerate(self.rows):
            for j, col in enumerate(self.cols):
                flag = "yes" if self.free_riders[i, j] else "no"
                lines.append(f"| {row} | {col} | {self.work_share[i, j]:.2f} | {self.reward_share[i, j]:.2f} | "
                             f"{self.fair_share:.2f} | {flag} |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"rows": self.rows, "cols": self.cols, "row_seats": self.row_seats, "seats": self.seats,
                "episodes": self.episodes, "mean": self.mean.tolist(), "half": self.half.tolist(),
                "work_share": self.work_share.tolist(), "reward_share": self.reward_share.tolist(),
                "free_rider_ratio": self.free_rider_ratio, "meta": self.meta}


def crossplay(rows: Sequence, partners: Sequence, scenario="default", row_seats: int = 2, episodes: int = 200,
              seed: int = 0, free_rider_ratio: float = 0.5, max_nights: int = 100,
              env_kwargs: Mapping | None = None) -> CrossPlay:
    """Every row player (member or scripted name) with every partner: see :class:`CrossPlay`.

    The row player takes the first ``row_seats`` entries of the lineup, the partner the rest; lineups
    rotate over the seats. Every cell plays ``episodes`` episodes from the same seeds (``env_kwargs`` as in
    :func:`play_lineup`).
    """
    from evo_marl.envs.bucket_brigade.scenarios import load_scenario

    seats = load_scenario(scenario).num_agents
    if isinstance(row_seats, bool) or not isinstance(row_seats, int) or not 1 <= row_seats < seats:
        raise ConfigError("row_seats", row_seats, f"must be an integer in [1, {seats - 1}]")
    if not rows or not partners:
        raise ConfigError("rows/partners", (len(rows), len(partners)), "need at least one row and one partner")
    shape = (len(rows), len(partners))
    mean, half, work_share, reward_share = (np.full(shape, np.nan) for _ in range(4))
    for i, row in enumerate(rows):
        for j, partner in enumerate(partners):
            res = play_lineup([row] * row_seats + [partner] * (seats - row_seats), scenario, episodes, seed,
                              max_nights=max_nights, env_kwargs=env_kwargs)
            m, lo, hi = mean_ci(res.per_night)
            mean[i, j], half[i, j] = m, (hi - lo) / 2
            team_work, team_return = res.work.sum(), res.returns.sum()
            work_share[i, j] = res.work[:, :row_seats].sum() / team_work if team_work else math.nan
            reward_share[i, j] = res.returns[:, :row_seats].sum() / team_return if team_return else math.nan
    return CrossPlay([_label(r) for r in rows], [_label(p) for p in partners], row_seats, seats, episodes, mean,
                     half, work_share, reward_share, free_rider_ratio,
                     {"scenario": str(scenario), "seed": seed})


def self_play(members: Sequence, scenario="default", episodes: int = 200, seed: int = 0,
              max_nights: int = 100, env_kwargs: Mapping | None = None) -> dict[str, tuple[float, float]]:
    """Each player in every seat: ``label -> (mean, 95% CI half-width)`` of team reward per night."""
    out = {}
    seats = _seats(scenario)
    for member in members:
        res = play_lineup([member] * seats, scenario, episodes, seed, rotate=False, max_nights=max_nights,
                          env_kwargs=env_kwargs)
        m, lo, hi = mean_ci(res.per_night)
        out[_label(member)] = (m, (hi - lo) / 2)
    return out


def _seats(scenario) -> int:
    from evo_marl.envs.bucket_brigade.scenarios import load_scenario

    return load_scenario(scenario).num_agents
