"""What the on- and off-policy league phases share: the batched league env loop around seat assignment.

One generation: the env (``population x num_envs`` games) is reset with the run's seed for the
generation, the matchmaker fills every game, and each vector step every learned member acts for all
the seats it holds in one batched call, the scripted members for theirs; finished games are recorded in
the league table (ratings) and refilled. Subclasses store what their learners need and learn.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

import numpy as np

from evo_marl.envs.vector import VectorEnv
from evo_marl.league.league import League
from evo_marl.envs.episodes import episode_over
from evo_marl.seeding import derived_seed
from evo_marl.training.collect import PhaseResult, random_actions

logger = logging.getLogger(__name__)


def stack_agents(values: dict[str, np.ndarray], agents: list[str]) -> np.ndarray:
    """``agent -> [G, ...]`` as one ``[G, S, ...]`` array in seat order."""
    return np.stack([np.asarray(values[a]) for a in agents], axis=1)


class LeaguePhaseBase:
    """The generation loop of a league (see the module docstring); subclasses implement the hooks."""

    def __init__(self, env: VectorEnv, num_envs: int, evo_steps: int, entropy: int, league: League):
        self.env, self.num_envs, self.evo_steps, self.entropy, self.league = env, num_envs, evo_steps, entropy, league
        self.agents = env.agents
        space = env.single_action_space(self.agents[0])
        self.action_shape = space.shape
        self.env_actions = np.zeros((env.num_envs, len(self.agents), *space.shape), np.int64)
        self._broken, self._first_broken = 0, ""  # games cut short by env errors in this generation

    # ------------------------------------------------------------------ hooks
    def begin(self, population: list, generation: int) -> None:
        """Called once the env is reset and the first games are drawn."""

    def act(self, population: list, k: int, games: np.ndarray, seats: np.ndarray, obs: np.ndarray,
            t: int) -> None:
        """Member at position ``k`` acts for ``(games, seats)``; writes ``self.env_actions[games, seats]``."""
        raise NotImplementedError

    def observe(self, population: list, t: int, obs: np.ndarray, rewards: np.ndarray, terms: np.ndarray,
                truncs: np.ndarray, final_obs: np.ndarray, owner: np.ndarray, active: np.ndarray,
                losses: list) -> float:
        """Store one vector step (everything ``[G, S, ...]``) and learn; returns seconds spent learning."""
        raise NotImplementedError

    def finish(self, population: list, next_obs: np.ndarray, losses: list) -> float:
        """End of the generation (learn from what is left); returns seconds spent learning."""
        return 0.0

    # ------------------------------------------------------------------ loop
    def _random_actions(self, games: np.ndarray, seats: np.ndarray, rng: np.random.Generator) -> None:
        self.env_actions[games, seats] = random_actions(self.env.single_action_space(self.agents[0]), games.size, rng)

    def __call__(self, population: list, generation: int) -> PhaseResult:
        env, league, agents, e = self.env, self.league, self.agents, self.num_envs
        n = env.num_envs
        timings = defaultdict(float)
        rng = np.random.default_rng(derived_seed(self.entropy, 6, generation))
        if hasattr(env, "set_generation"):
            env.set_generation(generation)
        obs_d, infos = env.reset(seed=derived_seed(self.entropy, 1, generation))
        league.begin_generation(population, generation, n, self.entropy)
        obs = stack_agents(obs_d, agents).astype(np.float32, copy=False)
        active = stack_agents(infos.get("active_mask", {a: np.ones(n, bool) for a in agents}), agents).astype(bool)
        running, nights = np.zeros(n), np.zeros(n)
        completed: list[list[float]] = [[] for _ in population]
        losses: list[dict[str, float]] = [{} for _ in population]
        for member in population:
            member.set_training_mode(True)
        self.begin(population, generation)
        vector_steps = -(-self.evo_steps // e)
        for t in range(vector_steps):
            t0 = time.perf_counter()
            owner = league.assignment.copy()
            for k, member in enumerate(population):
                games, seats = league.cells(k)
                if not games.size:
                    continue
                if not member.failed:
                    try:
                        self.act(population, k, games, seats, obs, t)
                        continue
                    except Exception as err:
                        logger.warning("member %s failed while acting (%s: %s); it plays random actions and ranks "
                                       "last", member.index, type(err).__name__, err)
                        member.failed = True
                self._random_actions(games, seats, rng)
            league.scripted_actions(obs, self.env_actions)
            t1 = time.perf_counter()
            next_d, rew_d, term_d, trunc_d, infos = env.step({a: self.env_actions[:, i] for i, a in enumerate(agents)})
            t2 = time.perf_counter()
            rewards = stack_agents(rew_d, agents).astype(np.float32, copy=False)
            terms, truncs = stack_agents(term_d, agents).astype(bool), stack_agents(trunc_d, agents).astype(bool)
            final_obs = stack_agents(infos.get("final_observation", next_d), agents).astype(np.float32, copy=False)
            finite = np.isfinite(rewards).all(axis=1) & np.isfinite(final_obs).reshape(n, -1).all(axis=1)
            if not finite.all():
                self._flag_non_finite(population, owner, ~finite)
                rewards = np.where(finite[:, None], rewards, 0.0).astype(np.float32)
            learn_time = self.observe(population, t, obs, rewards, terms, truncs, final_obs, owner, active, losses)
            for member in population:
                member.steps[-1] += e
            running += rewards.sum(axis=1)
            nights += 1
            ended = episode_over(term_d, trunc_d, infos)
            if ended.any():
                scored = ended & ~self._broken_games(infos, owner, n)
                if scored.any():
                    league.finish_games(scored, running, nights)
                for g in np.flatnonzero(scored):
                    for pos in np.unique(owner[g]):
                        if pos < len(population):
                            completed[pos].append(float(running[g]))
                running[ended], nights[ended] = 0.0, 0.0
                league.reassign(ended)
            obs = stack_agents(next_d, agents).astype(np.float32, copy=False)
            active = stack_agents(infos.get("active_mask", {a: np.ones(n, bool) for a in agents}), agents).astype(bool)
            timings["acting"] += t1 - t0
            timings["env"] += t2 - t1
            timings["learning"] += learn_time
            timings["buffer"] += time.perf_counter() - t2 - learn_time
        timings["learning"] += self.finish(population, obs, losses)
        self._report_broken(generation)
        league.end_generation(generation)
        train_scores = []
        for member, scores in zip(population, completed):
            member.scores.extend(scores)
            train_scores.append(float(np.mean(scores)) if scores else float("nan"))
        return PhaseResult(vector_steps * n, dict(timings), train_scores, losses)

    def _broken_games(self, infos: dict, owner: np.ndarray, n: int) -> np.ndarray:
        """Games the env cut short by raising in this step (``infos["step_errors"]``; the env reset them): they
        count for nobody's rating or score (several members share a game, so none of them is blamed).
        The first one of a generation is described in a warning, the rest counted (:meth:`_report_broken`)."""
        broken = np.zeros(n, bool)
        for g, text in (infos.get("step_errors") or {}).items() if isinstance(infos, dict) else ():
            broken[g] = True
            if not self._broken:
                self._first_broken = f"game {g} (league positions {[int(p) for p in np.unique(owner[g])]}): {text}"
            self._broken += 1
        return broken

    def _report_broken(self, generation: int) -> None:
        if self._broken:
            logger.warning("generation %d: %d league game(s) ended early because their env raised (first: %s); "
                           "they are not scored", generation, self._broken, self._first_broken)
        self._broken, self._first_broken = 0, ""

    def _flag_non_finite(self, population: list, owner: np.ndarray, bad: np.ndarray) -> None:
        for pos in np.unique(owner[bad]):
            if pos < len(population) and not population[pos].failed:
                logger.warning("non-finite reward or observation in a game of member %s; those rewards are zeroed "
                               "and it ranks last this generation", population[pos].index)
                population[pos].failed = True
