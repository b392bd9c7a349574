"""Evaluation: run whole episodes without exploration and measure team returns and env metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evo_marl.envs.episodes import EpisodeResults, episode_over, run_episodes, team_reward
from evo_marl.errors import EnvError
from evo_marl.seeding import derived_seed

logger = logging.getLogger(__name__)
__all__ = ["EpisodeResults", "MemberEvaluation", "episode_over", "evaluate_generation", "evaluate_population",
           "run_episodes", "team_reward"]


@dataclass
class MemberEvaluation:
    """A member's fitness, mean env metrics, and the per-episode returns and metrics behind them."""

    fitness: float
    metrics: dict[str, float]
    returns: np.ndarray
    episode_metrics: dict[str, np.ndarray] = field(default_factory=dict)


def evaluate_population(population: Sequence, env, max_steps: int | None = None,
                        seed: int | None = None) -> list[MemberEvaluation]:
    """Evaluate every member on the same episodes (same ``seed``), without exploration noise.

    ``env`` has one sub-env per evaluation episode. Each member's fitness (mean team return) is appended
    to ``member.fitness``; a member whose evaluation raised, or returned a non-finite value, gets NaN.
    """
    results = []
    for member in population:
        was_training = member.training
        member.set_training_mode(False)
        try:
            res = run_episodes(lambda o, i, m=member: m.get_action(o, i)[0], env, max_steps=max_steps, seed=seed)
            fitness = float(np.mean(res.returns))
            metrics, returns, per_episode = res.mean_metrics(), res.returns, res.metrics
        except Exception as err:  # a failing member must not stop the run
            if isinstance(err, EnvError):  # the env's own failure, already described: no traceback
                logger.warning("member %s failed during evaluation (%s); it is ranked last", member.index, err)
            else:
                logger.exception("member %s failed during evaluation; it is ranked last", member.index)
            fitness, metrics, returns, per_episode = float("nan"), {}, np.array([]), {}
            member.failed = True
        member.set_training_mode(was_training)
        if not np.isfinite(fitness) or member.failed:
            fitness = float("nan")
        member.fitness.append(fitness)
        results.append(MemberEvaluation(fitness, metrics, returns, per_episode))
    return results


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
    return evaluate_population(population, env, settings.eval_steps, seed=derived_seed(entropy, 2, key))
