"""``train_league``: population training where every game's seats are filled by a matchmaker.

The generation loop, evaluation (self-play teams: each member in every seat), writers, stopping,
selection, mutation and checkpoints are the shared :class:`~evo_marl.training.runner.EvolutionRunner`'s;
the league adds its phase (on- or off-policy), the league table (a checkpointed component of the run, so a
resumed run continues exactly) and ``league.csv`` (per generation and member: games, ratings, league return).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import replace
from pathlib import Path

from evo_marl.errors import ConfigError
from evo_marl.hpo.tournament import TournamentSelection
from evo_marl.league.config import LeagueConfig
from evo_marl.league.league import League, layout_of
from evo_marl.stopping import StoppingCriterion
from evo_marl.training.settings import RunSettings
from evo_marl.training.trainer import resolve_run_dir, train_population

logger = logging.getLogger(__name__)
LEAGUE_CSV = "league.csv"
CSV_COLUMNS = ("generation", "member", "kind", "parent", "games", "generation_games", "league_return", "mu", "sigma",
               "ordinal")


class LeagueWriter:
    """Rewrites ``<run_dir>/league.csv`` from the league table after every generation (resume-safe)."""

    def __init__(self, league: League, run_dir: Path):
        self.league, self.path = league, Path(run_dir) / LEAGUE_CSV

    def write_generation(self, record) -> None:
        rows = []
        for key, stats in self.league.table.members.items():
            returns = {int(g): (r, n) for g, r, n in stats.return_history}
            games = 0
            for generation, mu, sigma in stats.rating_history:
                ret, count = returns.get(int(generation), (float("nan"), 0))
                games += count
                rows.append({"generation": int(generation), "member": key, "kind": stats.kind, "parent": stats.parent,
                             "games": games, "generation_games": count, "league_return": ret, "mu": mu,
                             "sigma": sigma, "ordinal": mu - 3 * sigma})
        rows.sort(key=lambda r: (r["generation"], r["member"]))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)

    def close(self) -> None:
        pass


class LeagueSelection:
    """A selection strategy that ranks members by the league's score (``league.selection``: rating or league
    return) instead of the run's fitness; everything else (elitism, tournaments, state) is ``inner``'s."""

    def __init__(self, inner, league: League):
        self.inner, self.league = inner, league

    @property
    def rng(self):
        return self.inner.rng

    @rng.setter
    def rng(self, value) -> None:
        self.inner.rng = value

    def select(self, population, fitness=None):
        return self.inner.select(population, [self.league.selection_score(m) for m in population])

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def train_league(env, population: list, settings: RunSettings, league: LeagueConfig | dict | None = None, *,
                 memory=None, selection=None, mutation=None, stopping: list[StoppingCriterion] | tuple = (),
                 writers: list | tuple = (), on_start=None) -> tuple[list, list[list[float]], League]:
    """Train ``population`` as a league (see the module docstring); returns ``(population, fitnesses, league)``.

    Args:
        env: a ``VectorEnv`` with ``num_envs`` or ``population x num_envs`` games (all seats learner-controlled).
        population: members of one algorithm (``create_population``). settings: the run's :class:`RunSettings`.
        league: a :class:`LeagueConfig` (or its fields as a dict; None: the defaults).
        memory: off-policy members: a :class:`~evo_marl.league.off_policy.LeagueReplayBuffer` (None: one of
            100,000 transitions is built); on-policy members take none.
        selection, mutation, stopping, writers, on_start: as :func:`~evo_marl.training.trainer.train_population`;
            with ``league.selection`` ``rating`` or ``league_return`` the selection ranks by the league's score.
    """
    from evo_marl.league.off_policy import LeagueOffPolicyPhase, LeagueReplayBuffer
    from evo_marl.league.on_policy import LeagueOnPolicyPhase

    if not population:
        raise ConfigError("pop", population, "must contain at least one member")
    cfg = league if isinstance(league, LeagueConfig) else LeagueConfig(**(league or {}))
    on_policy = population[0].on_policy
    if len(population) + len(cfg.scripted) < 2:
        raise ConfigError("population_size", len(population), "a league needs at least two members (learned or scripted)")
    if on_policy and cfg.rollout_steps is None and "learn_step" in population[0].hp_config.names():
        logger.warning("league: IPPO members share one rollout of %d vector steps (the first member's learn_step); "
                       "learn_step mutations have no effect in a league (drop it from hp_ranges)",
                       population[0].rollout_steps)
    space = env.single_action_space(env.agents[0])
    league_obj = League(cfg, env.agents, layout_of(env), action_width=int(space.shape[0]) if space.shape else 1)
    if on_policy and memory is not None:
        raise ConfigError("memory", type(memory).__name__, f"{population[0].algo_name} learns from its own seats' "
                                                           "rollouts: pass no replay buffer")
    if not on_policy:
        memory = memory if memory is not None else LeagueReplayBuffer(100_000, env.agents)
        if not isinstance(memory, LeagueReplayBuffer):
            raise ConfigError("memory", type(memory).__name__, "league training needs a LeagueReplayBuffer (it stores "
                                                               "the acting member of every seat)")
    selection = selection or TournamentSelection(min(2, len(population)), True, len(population),
                                                 eval_loop=settings.fitness_window)
    if cfg.selection != "fitness":
        selection = LeagueSelection(selection, league_obj)
    run_dir = resolve_run_dir(settings.run_dir, settings.env_name, population[0].algo_name, settings.resume,
                              settings.overwrite)
    settings = replace(settings, run_dir=run_dir, overwrite=False)

    def make_phase(members, vec_env, run_settings, entropy):
        if on_policy:
            steps = cfg.rollout_steps or members[0].rollout_steps
            return LeagueOnPolicyPhase(vec_env, members[0].num_envs, run_settings.evo_steps, entropy, league_obj, steps)
        return LeagueOffPolicyPhase(vec_env, members[0].num_envs, run_settings.evo_steps, entropy, league_obj, memory,
                                    run_settings.learning_delay)

    population, history = train_population(
        env, population, settings, memory=memory, selection=selection, mutation=mutation, stopping=stopping,
        writers=[LeagueWriter(league_obj, run_dir), *writers], phase=make_phase, components={"league": league_obj},
        on_start=on_start)
    return population, history, league_obj
