"""Playing whole episodes in a vector env: team returns, episode ends and env episode metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from evo_marl.errors import EnvError

logger = logging.getLogger(__name__)
DEFAULT_EVAL_CAP = 10_000  # vector steps before an evaluation that never ends is cut off


@dataclass
class EpisodeResults:
    """First-episode results of every sub-env of a vector env.

    Attributes:
        returns: team return (sum over agents) per sub-env; partial where the step cap cut the episode.
        lengths: steps per sub-env.
        finished: whether the episode really ended (False where cut by ``max_steps``).
        metrics: env episode metrics ``name -> float64[num_envs]`` (NaN where not finished).
    """

    returns: np.ndarray
    lengths: np.ndarray
    finished: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)

    def mean_metrics(self) -> dict[str, float]:
        """Mean of each env metric over finished episodes."""
        out = {}
        for name, values in self.metrics.items():
            valid = values[np.isfinite(values)]
            out[name] = float(valid.mean()) if valid.size else float("nan")
        return out


def team_reward(rewards: dict[str, np.ndarray]) -> np.ndarray:
    """Sum of the agents' rewards per sub-env."""
    return np.sum(np.stack([np.asarray(r, dtype=np.float64) for r in rewards.values()]), axis=0)


def episode_over(terminations: dict, truncations: dict, infos: dict) -> np.ndarray:
    """Sub-envs whose episode ended in this step (``final_mask`` where the env provides it)."""
    if isinstance(infos, dict) and "final_mask" in infos:
        return np.asarray(infos["final_mask"], bool)
    ends = [np.asarray(terminations[a], bool) | np.asarray(truncations.get(a, False), bool) for a in terminations]
    return np.all(np.stack(ends), axis=0)


def run_episodes(policy: Callable[[dict, dict], dict], env, max_steps: int | None = None,
                 seed: int | None = None) -> EpisodeResults:
    """Play one episode in every sub-env of ``env`` with ``policy(obs, infos) -> env actions``.

    Raises:
        EnvError: a sub-env raised during its episode (``infos["step_errors"]``): its return would be partial.
    """
    obs, infos = env.reset(seed=seed)
    n = env.num_envs
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    done = np.zeros(n, bool)
    metrics: dict[str, np.ndarray] = {}
    cap = max_steps if max_steps is not None else DEFAULT_EVAL_CAP
    steps = 0
    while not done.all() and steps < cap:
        obs, rewards, terms, truncs, infos = env.step(policy(obs, infos))
        live = ~done
        errors = infos.get("step_errors") if isinstance(infos, dict) else None
        if errors and any(live[i] for i in errors):  # an episode cut short by an env error has no return
            i = next(i for i in errors if live[i])
            raise EnvError(f"sub-env {i}: the env raised during the episode ({errors[i]})")
        returns[live] += team_reward(rewards)[live]
        lengths[live] += 1
        ended = episode_over(terms, truncs, infos) & live
        for name, values in (infos.get("episode", {}) if isinstance(infos, dict) else {}).items():
            store = metrics.setdefault(name, np.full(n, np.nan))
            store[ended] = np.asarray(values, np.float64)[ended]
        done |= ended
        steps += 1
    if max_steps is None and not done.all():
        logger.warning("evaluation stopped after %d steps with %d episodes unfinished; set eval_steps",
                       cap, int((~done).sum()))
    return EpisodeResults(returns, lengths, done, metrics)
