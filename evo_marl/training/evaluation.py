"""Evaluation: run whole episodes without exploration and measure team returns and env metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evo_marl.envs.episodes import (DEFAULT_EVAL_CAP, EpisodeResults, EpisodeTally, acting_greedily, episode_over,
                                    run_episodes, team_reward, warn_unfinished)
from evo_marl.errors import EnvError
from evo_marl.hpo.fitness import RETURN, check_metric_reported, evaluation_score
from evo_marl.population.greedy import StackedGreedyPolicy
from evo_marl.population.transfer import member_rows
from evo_marl.seeding import derived_seed

logger = logging.getLogger(__name__)
__all__ = ["EpisodeResults", "MemberEvaluation", "episode_over", "evaluate_generation", "evaluate_population",
           "run_episodes", "team_reward"]


@dataclass
class MemberEvaluation:
    """A member's score (what its fitness is made of), mean env metrics, and the per-episode returns and metrics
    behind them."""

    fitness: float
    metrics: dict[str, float]
    returns: np.ndarray
    episode_metrics: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def mean_return(self) -> float:
        """Mean team return of the episodes (NaN where the evaluation failed)."""
        return evaluation_score(self.returns, self.episode_metrics, RETURN)


def evaluate_population(population: Sequence, env, max_steps: int | None = None,
                        seed: int | None = None, stacked: bool = True, grouping: str = "auto",
                        fitness_metric: str = RETURN) -> list[MemberEvaluation]:
    """Evaluate every member on the same episodes (same ``seed``), without exploration noise.

    ``env`` has one sub-env per evaluation episode. Where it can be replicated
    (:meth:`~evo_marl.envs.vector.VectorEnv.replicated`), the whole population plays in one env of
    ``population x episodes`` sub-envs, one env step for all members, with exactly the results of playing
    one member after another; with ``stacked`` (the default), MADDPG / MATD3 / IPPO members also act as
    one stack (:class:`~evo_marl.population.greedy.StackedGreedyPolicy`, ``grouping`` as in training), one
    forward per actor network for the whole population. Each member's score (mean team return, or the mean of
    episode metric ``fitness_metric``: :func:`~evo_marl.hpo.fitness.evaluation_score`) is appended to
    ``member.fitness``; a member whose evaluation raised, or returned a non-finite value, gets NaN.

    Raises:
        ConfigError: ``fitness_metric`` names no episode metric the env reports.
    """
    with acting_greedily(population):
        replica = _replica(env, len(population))
        if replica is None:
            outcomes = [_play_alone(member, env, max_steps, seed) for member in population]
        else:
            policy = _stacked_policy(population, grouping) if stacked else None
            outcomes = _play_together(population, replica, env.num_envs, max_steps, seed, policy)
    _refuse_an_env_without_metrics(fitness_metric, outcomes)
    results = []
    for member, res in zip(population, outcomes):
        if res is None:
            member.failed = True
            fitness, metrics, returns, per_episode = float("nan"), {}, np.array([]), {}
        else:
            fitness = evaluation_score(res.returns, res.metrics, fitness_metric)
            metrics, returns, per_episode = res.mean_metrics(), res.returns, res.metrics
        if not np.isfinite(fitness) or member.failed:
            fitness = float("nan")
        member.fitness.append(fitness)
        results.append(MemberEvaluation(fitness, metrics, returns, per_episode))
    return results


def _refuse_an_env_without_metrics(fitness_metric: str, outcomes: list[EpisodeResults | None]) -> None:
    """Refuse a ``fitness_metric`` where episodes finished but the env reported no episode metrics at all (an env
    that cannot say its metrics before an episode ends; one that reports others is refused by the score)."""
    finished = [res for res in outcomes if res is not None and res.finished.any()]
    if fitness_metric != RETURN and finished and not any(res.metrics for res in finished):
        check_metric_reported("training.fitness_metric", fitness_metric, set())


def _replica(env, copies: int):
    """``env`` replicated for ``copies`` members, or None (not replicable, or building it failed)."""
    if not hasattr(env, "replicated"):
        return None
    try:
        return env.replicated(copies)
    except Exception as err:  # evaluation still works one member after another
        logger.warning("evaluation env could not be replicated (%s: %s); members are evaluated one by one",
                       type(err).__name__, err)
        env.__dict__.setdefault("_replicas", {})[copies] = None
        return None


def _stacked_policy(population: Sequence, grouping: str) -> StackedGreedyPolicy | None:
    """The population's actors as one stack, or None (members then act one by one) where they cannot be stacked."""
    try:
        return StackedGreedyPolicy(population, grouping)
    except Exception as err:
        logger.debug("evaluation acts member by member (%s: %s)", type(err).__name__, err)
        return None


def _report_failure(member, err: Exception) -> None:
    """Log why a member's evaluation failed (a failing member must not stop the run: it is ranked last)."""
    if isinstance(err, EnvError):  # the env's own failure, already described: no traceback
        logger.warning("member %s failed during evaluation (%s); it is ranked last", member.index, err)
    else:
        logger.error("member %s failed during evaluation; it is ranked last", member.index, exc_info=err)


def _play_alone(member, env, max_steps: int | None, seed: int | None) -> EpisodeResults | None:
    """One member's episodes in ``env``; None if they failed."""
    try:
        return run_episodes(lambda o, i: member.get_action(o, i)[0], env, max_steps=max_steps, seed=seed)
    except Exception as err:
        _report_failure(member, err)
        return None


def _rows_of(value, rows: slice, num_envs: int):
    """Obs or infos restricted to the sub-envs ``rows`` (arrays over sub-envs are sliced, the rest kept)."""
    if isinstance(value, dict):
        return {k: _rows_of(v, rows, num_envs) for k, v in value.items() if k != "step_errors"}
    if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == num_envs:
        return value[rows]
    return value


def _play_together(population: Sequence, env, block: int, max_steps: int | None, seed: int | None,
                   policy: StackedGreedyPolicy | None = None) -> list[EpisodeResults | None]:
    """Every member's episodes in the replicated ``env``: member ``k`` plays sub-envs ``[k*block, (k+1)*block)``.

    Members act on their own rows as they would alone (all at once through ``policy`` where given; if it
    raises, one by one from then on, so that a failure is pinned on its member); a member stops acting when
    its episodes are over or it failed (its rows then repeat their last actions, which only move finished
    or discarded episodes).
    """
    n = env.num_envs
    rows = [slice(k * block, (k + 1) * block) for k in range(len(population))]
    failed = [False] * len(population)
    obs, infos = env.reset(seed=seed)
    tally = EpisodeTally(n)
    actions: dict[str, np.ndarray] | None = None
    cap = max_steps if max_steps is not None else DEFAULT_EVAL_CAP
    steps = 0

    def place(own: dict[str, np.ndarray], where) -> None:
        nonlocal actions
        if actions is None:  # every block starts with the first acting member's actions: valid for any sub-env
            actions = {a: np.repeat(np.asarray(v)[:block], len(population), axis=0) for a, v in own.items()}
        for agent, value in own.items():
            actions[agent][where] = value

    while not tally.done.all() and steps < cap:
        acting = [k for k in range(len(population)) if not failed[k] and not tally.done[rows[k]].all()]
        if policy is not None and acting:
            where = member_rows(acting, block)
            try:
                place(policy.act(acting, _rows_of(obs, where, n), _rows_of(infos, where, n)), where)
                acting = []
            except Exception as err:
                logger.warning("stacked evaluation failed (%s: %s); members act one by one",
                               type(err).__name__, err)
                policy = None
        for k in acting:
            try:
                place(population[k].get_action(_rows_of(obs, rows[k], n), _rows_of(infos, rows[k], n))[0], rows[k])
            except Exception as err:
                _report_failure(population[k], err)
                failed[k] = True
        if actions is None:  # no member could act
            break
        obs, rewards, terms, truncs, infos = env.step(actions)
        for i, text in tally.add(rewards, terms, truncs, infos).items():
            k = i // block
            if not failed[k]:
                _report_failure(population[k], EnvError(f"sub-env {i - k * block}: the env raised during the "
                                                        f"episode ({text})"))
                failed[k] = True
        steps += 1
    warn_unfinished(tally.done, cap, max_steps)
    return [None if failed[k] else tally.results(rows[k]) for k in range(len(population))]


def evaluate_generation(population: Sequence, env, settings, entropy: int, generation: int) -> list[MemberEvaluation]:
    """The evaluation that closes generation ``generation`` of a run (``settings``: its ``RunSettings``).

    Members whose weights became non-finite are marked failed (they rank last); then every member plays the
    same episodes, seeded from the run's ``entropy`` (new ones every generation, or the same validation
    episodes with ``eval_set="fixed"``).
    """
    for member in population:
        if not member.has_finite_weights():
            logger.warning("member %s has non-finite weights; it is ranked last", member.index)
            member.failed = True
    key = 0 if settings.eval_set == "fixed" else generation
    return evaluate_population(population, env, settings.eval_steps, seed=derived_seed(entropy, 2, key),
                               stacked=settings.batched_learning, grouping=settings.stack_grouping,
                               fitness_metric=settings.fitness_metric)
