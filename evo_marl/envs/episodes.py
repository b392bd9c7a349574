"""Playing whole episodes in a vector env: team returns, episode ends and env episode metrics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from evo_marl.errors import EnvError

logger = logging.getLogger(__name__)
DEFAULT_EVAL_CAP = 10_000  # vector steps before an evaluation that never ends is cut off


@contextlib.contextmanager
def acting_greedily(members: Sequence) -> Iterator[None]:
    """``members`` (population members) with training mode off, so without exploration, inside the block; each
    back to its own mode after it."""
    modes = [member.training for member in members]
    for member in members:
        member.set_training_mode(False)
    try:
        yield
    finally:
        for member, mode in zip(members, modes):
            member.set_training_mode(mode)


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


class EpisodeTally:
    """The first episode of every sub-env of a vector env, added up step by step.

    Attributes:
        returns, lengths, done: as :class:`EpisodeResults` (``done``: the first episode is over).
        metrics: env episode metrics ``name -> float64[num_envs]`` (NaN until the episode ends).
    """

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.returns, self.lengths = np.zeros(num_envs), np.zeros(num_envs, np.int64)
        self.done = np.zeros(num_envs, bool)
        self.metrics: dict[str, np.ndarray] = {}

    def add(self, rewards: dict, terminations: dict, truncations: dict, infos: dict) -> dict[int, str]:
        """Add one vector step; returns the sub-envs whose running first episode the env cut short by
        raising (``infos["step_errors"]``: position -> error text). Those count as done, not finished."""
        live = ~self.done
        step_errors = infos.get("step_errors") if isinstance(infos, dict) else None
        errors = {i: text for i, text in (step_errors or {}).items() if live[i]}
        self.returns[live] += team_reward(rewards)[live]
        self.lengths[live] += 1
        ended = episode_over(terminations, truncations, infos) & live
        for name, values in (infos.get("episode", {}) if isinstance(infos, dict) else {}).items():
            store = self.metrics.setdefault(name, np.full(self.num_envs, np.nan))
            store[ended] = np.asarray(values, np.float64)[ended]
        self.done |= ended
        self.done[list(errors)] = True
        return errors

    def results(self, rows: slice | np.ndarray = slice(None)) -> EpisodeResults:
        """The results of sub-envs ``rows`` (default: all)."""
        return EpisodeResults(self.returns[rows].copy(), self.lengths[rows].copy(), self.done[rows].copy(),
                              {name: values[rows].copy() for name, values in self.metrics.items()})


def run_episodes(policy: Callable[[dict, dict], dict], env, max_steps: int | None = None,
                 seed: int | None = None) -> EpisodeResults:
    """Play one episode in every sub-env of ``env`` with ``policy(obs, infos) -> env actions``.

    Raises:
        EnvError: a sub-env raised during its episode (``infos["step_errors"]``): its return would be partial.
    """
    obs, infos = env.reset(seed=seed)
    tally = EpisodeTally(env.num_envs)
    cap = max_steps if max_steps is not None else DEFAULT_EVAL_CAP
    steps = 0
    while not tally.done.all() and steps < cap:
        obs, rewards, terms, truncs, infos = env.step(policy(obs, infos))
        errors = tally.add(rewards, terms, truncs, infos)
        if errors:  # an episode cut short by an env error has no return
            i = min(errors)
            raise EnvError(f"sub-env {i}: the env raised during the episode ({errors[i]})")
        steps += 1
    warn_unfinished(tally.done, cap, max_steps)
    return tally.results()


def warn_unfinished(done: np.ndarray, cap: int, max_steps: int | None) -> None:
    """Warn when the default step cap (no ``max_steps`` set) cut episodes off."""
    if max_steps is None and not done.all():
        logger.warning("evaluation stopped after %d steps with %d episodes unfinished; set eval_steps",
                       cap, int((~done).sum()))
