"""How much can one seat add to a scripted Bucket Brigade team? A rollout planner that knows the rules.

    python benchmarks/bench_bucket_brigade_planner.py [--scenario default] [--teammates coordinator]
        [--rollouts 16 64] [--episodes 2000] [--scripted-episodes 20000] [--seed 10000] [--out FILE.md]

The league target asks for >= 340 a night from one learned agent with three `coordinator` teammates. This
bench bounds what any fourth player can reach there. Seat 0 is played by a Monte-Carlo rollout planner: every
night it tries resting at home and working each burning house; for each choice it plays ``K`` copies of the
episode to its end with the true rules, the teammates' own scripted policy and `all_work` in its own seat
afterwards, and it takes the choice with the best mean episode score (team reward per night, the metric of the
tables). That is one step of policy improvement over `all_work` with an exact model of the game and the
teammates: a model-based fourth player far better informed than a learner. ``peek`` also shows it the
teammates' actions for tonight before it chooses (they act on last night's state, so this is information a
real player cannot have): an optimistic planner. Rows: `all_work` in seat 0 (the best scripted partner), the
planner with and without peeking, for each ``K`` (2000 episodes), and an optimistic ceiling, ``every_fire``: a fourth player
that works every burning house at once, for free (it collects the rest bonus every night), i.e. one extra
worker on each fire. No real player does as much in a night. Scripted rows play 20000 episodes (cheap).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from evo_marl.envs.bucket_brigade.agents import ScriptedPolicy, make_policy
from evo_marl.envs.bucket_brigade.rules import REST, WORK, extinguish_probability_table
from evo_marl.envs.bucket_brigade.simulator import BucketBrigadeSimulator
from evo_marl.errors import ConfigError
from evo_marl.seeding import numpy_rng
from results_file import write_results

EVERY_FIRE = "every_fire"
STATE = ("houses", "prev", "locations", "signals", "modes", "night", "returns", "work_nights")


def _team_policies(teammates: Sequence[str], seat: int, num_agents: int, num_houses: int) -> list[ScriptedPolicy]:
    """One scripted policy per teammate name, playing every seat but ``seat`` in order."""
    seats = [s for s in range(num_agents) if s != seat]
    if len(teammates) != len(seats):
        raise ConfigError("teammates", list(teammates), f"must name one scripted policy per other seat ({len(seats)})")
    groups: dict[str, list[int]] = {}
    for name, s in zip(teammates, seats):
        groups.setdefault(name, []).append(s)
    return [make_policy(name, group, num_agents, num_houses) for name, group in groups.items()]


def _act_all(policies: list[ScriptedPolicy], sim: BucketBrigadeSimulator, rng: np.random.Generator,
             full: np.ndarray) -> None:
    state = sim.public_state()
    for policy in policies:
        full[:, policy.seats] = policy.act(state, rng)[0]


def _step(sim: BucketBrigadeSimulator, full: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    _, terminated, truncated, _ = sim.step({f"agent_{i}": full[:, i] for i in range(sim.num_agents)}, rng)
    return terminated | truncated


class RolloutPlanner:
    """Plays one seat by Monte-Carlo rollouts of the true rules (see the module docstring).

    Args:
        scenario: the scenario the team plays.
        seat: the planner's seat.
        teammates: the scripted policy names of the other seats, in seat order.
        rollouts: episodes played to the end per candidate choice.
        peek: see the teammates' actions for tonight before choosing.
        continuation: the scripted policy of the planner's seat inside the rollouts.
        rng: the planner's own generator (its rollouts never touch the game's stream).
    """

    def __init__(self, scenario, seat: int, teammates: Sequence[str], rollouts: int = 64, peek: bool = False,
                 continuation: str = "all_work", max_nights: int = 100, rng=None):
        if isinstance(rollouts, bool) or not isinstance(rollouts, (int, np.integer)) or rollouts < 1:
            raise ConfigError("rollouts", rollouts, "must be an integer >= 1")
        self.scenario, self.seat, self.teammates = scenario, int(seat), list(teammates)
        self.rollouts, self.peek, self.continuation, self.max_nights = int(rollouts), bool(peek), continuation, max_nights
        self.rng = numpy_rng(rng) if not isinstance(rng, np.random.Generator) else rng

    def choose(self, game: BucketBrigadeSimulator, mates: list[ScriptedPolicy], tonight: np.ndarray,
               active: np.ndarray) -> np.ndarray:
        """``int64[E, 2]`` ``[house, mode]`` for the planner's seat in every env of ``game``.

        ``tonight`` holds the teammates' actions for this night (read only when ``peek``); envs not ``active``
        or without a fire rest at home without planning.
        """
        num_envs, h, seat = game.num_envs, game.num_houses, self.seat
        home = seat % h
        choice = np.tile(np.array([home, REST], np.int64), (num_envs, 1))
        burning = (game.houses == 1) & active[:, None]
        if not burning.any():
            return choice
        fire_env, fire_house = np.nonzero(burning)
        plan_env = np.unique(fire_env)
        cand_env = np.concatenate([plan_env, fire_env])  # rest at home, then work at each burning house
        cand = np.concatenate([np.stack([np.full(plan_env.size, home), np.full(plan_env.size, REST)], 1),
                               np.stack([fire_house, np.full(fire_house.size, WORK)], 1)])
        score = self._rollout_scores(game, mates, tonight, cand_env, cand)
        order = np.lexsort((-score, cand_env))  # by env, best score first
        first = np.ones(order.size, bool)
        first[1:] = cand_env[order][1:] != cand_env[order][:-1]
        best = order[first]
        choice[cand_env[best]] = cand[best]
        return choice

    def _rollout_scores(self, game, mates, tonight, cand_env, cand) -> np.ndarray:
        k, seat = self.rollouts, self.seat
        rows = np.repeat(cand_env, k)
        sim = BucketBrigadeSimulator(rows.size, self.scenario, max_nights=self.max_nights)
        for name in STATE:
            setattr(sim, name, getattr(game, name)[rows].copy())
        n, h = sim.num_agents, sim.num_houses
        policies = _team_policies(self.teammates, seat, n, h)
        for policy, source in zip(policies, mates):
            policy.copy_memory(source, rows)
        own = make_policy(self.continuation, [seat], n, h)
        full = np.empty((rows.size, n, 2), np.int64)
        if self.peek:
            full[:] = tonight[rows]
        else:
            _act_all(policies, sim, self.rng, full)
        full[:, seat] = np.repeat(cand, k, axis=0)
        score = np.full(rows.size, np.nan)
        done = np.zeros(rows.size, bool)
        while True:
            ended = _step(sim, full, self.rng) & ~done
            score[ended] = sim.returns[ended].sum(axis=1) / sim.night[ended]
            done |= ended
            if done.all():
                return score.reshape(-1, k).mean(axis=1)
            _act_all(policies, sim, self.rng, full)
            full[:, seat] = own.act(sim.public_state(), self.rng)[0][:, 0]


class ExtraWorkerSimulator(BucketBrigadeSimulator):
    """The game with one more worker on every burning house than the seats send (the ``every_fire`` ceiling)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.p_table = extinguish_probability_table(self.scenario.kappa, self.num_agents + 1)[1:]


def play_seat(player, scenario: str, teammates: Sequence[str], episodes: int, seed: int, seat: int = 0,
              max_nights: int = 100) -> np.ndarray:
    """Team reward per night of ``episodes`` episodes with ``player`` in ``seat`` and scripted ``teammates``
    in the others. ``player`` is a scripted policy name, a :class:`RolloutPlanner` (given the same seat) or
    :data:`EVERY_FIRE` (the seat rests at home and every fire gets one extra worker)."""
    game_rng = np.random.default_rng(seed)
    simulator = ExtraWorkerSimulator if player == EVERY_FIRE else BucketBrigadeSimulator
    game = simulator(episodes, scenario, max_nights=max_nights)
    if player == EVERY_FIRE:
        player = "always_rest"
    game.reset_where(np.ones(episodes, bool), game_rng)
    n, h = game.num_agents, game.num_houses
    mates = _team_policies(teammates, seat, n, h)
    scripted = None if isinstance(player, RolloutPlanner) else make_policy(player, [seat], n, h, rng=seed + 1)
    full = np.empty((episodes, n, 2), np.int64)
    per_night = np.full(episodes, np.nan)
    done = np.zeros(episodes, bool)
    while not done.all():
        _act_all(mates, game, game_rng, full)
        if scripted is not None:
            full[:, seat] = scripted.act(game.public_state())[0][:, 0]
        else:
            full[:, seat] = player.choose(game, mates, full, ~done)
        ended = _step(game, full, game_rng) & ~done
        per_night[ended] = game.returns[ended].sum(axis=1) / game.night[ended]
        done |= ended
    return per_night


def _interval(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(1.96 * x.std(ddof=1) / np.sqrt(x.size))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="default")
    p.add_argument("--teammates", default="coordinator", help="scripted policy of the three other seats")
    p.add_argument("--rollouts", type=int, nargs="+", default=[16, 64], help="rollouts per candidate choice")
    p.add_argument("--episodes", type=int, default=2000, help="episodes per planner row")
    p.add_argument("--scripted-episodes", type=int, default=20000, help="episodes per scripted row (cheap)")
    p.add_argument("--batch", type=int, default=250, help="episodes played at once")
    p.add_argument("--seed", type=int, default=10000)
    p.add_argument("--out", default="benchmarks/results/bucket_brigade_planner.md")
    args = p.parse_args(argv)
    mates = [args.teammates] * 3
    players: list[tuple[str, object]] = [("`all_work` (best scripted partner)", "all_work"),
                                         ("ceiling: one free extra worker on every fire (`every_fire`)", EVERY_FIRE)]
    for k in args.rollouts:
        players.append((f"rollout planner, {k} rollouts", RolloutPlanner(args.scenario, 0, mates, k, peek=False,
                                                                          rng=args.seed + 7)))
        players.append((f"rollout planner, {k} rollouts, peeks at tonight's teammates",
                        RolloutPlanner(args.scenario, 0, mates, k, peek=True, rng=args.seed + 7)))
    lines = ["| seat 0 | episodes | team reward per night (mean ± 95 % CI) | wall (s) |", "|---|---|---|---|"]
    for label, player in players:
        t0 = time.perf_counter()
        episodes = args.episodes if isinstance(player, RolloutPlanner) else args.scripted_episodes
        parts = [play_seat(player, args.scenario, mates, min(args.batch, episodes - start), args.seed + start)
                 for start in range(0, episodes, args.batch)]
        mean, half = _interval(np.concatenate(parts))
        lines.append(f"| {label} | {episodes} | {mean:.1f} ± {half:.1f} | {time.perf_counter() - t0:.0f} |")
        print(lines[-1], flush=True)
    command = (f"python benchmarks/bench_bucket_brigade_planner.py --scenario {args.scenario} --teammates "
               f"{args.teammates} --rollouts {' '.join(map(str, args.rollouts))} --episodes {args.episodes} "
               f"--scripted-episodes {args.scripted_episodes} --seed {args.seed}")
    write_results(args.out, [
        f"# One seat beside three `{args.teammates}` teammates on {args.scenario}: what a rollout planner reaches", "",
        f"Measured {time.strftime('%Y-%m-%d')} with `{command}`. Team reward per night (episodes played {args.batch} at a "
        f"time, the batch starting at episode i seeded {args.seed} + i), seat 0 as named, the other seats `{args.teammates}`. The planner and its "
        "rollouts are described in the script's docstring.", "", *lines])

if __name__ == "__main__":
    main()
