"""What every collection phase shares: member k's slice of the population's batched env, seeded random
fallback actions for a failed member, and the bookkeeping of training-episode returns."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from evo_marl.envs.episodes import episode_over, team_reward
from evo_marl.envs.vector import VectorEnv
from evo_marl.errors import EnvError
from evo_marl.seeding import derived_seed

logger = logging.getLogger(__name__)


@dataclass
class PhaseResult:
    """What a trainer's collect-and-learn phase reports for one generation (``evaluations``: set by a phase
    that also evaluated the members, as :func:`~evo_marl.training.evaluation.evaluate_generation` does)."""

    transitions: int
    timings: dict[str, float]
    train_scores: list[float]
    losses: list[dict[str, float]]
    evaluations: list | None = None


def random_actions(space: spaces.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniformly random env actions of ``space`` drawn from ``rng`` (one array, no per-row loop)."""
    if isinstance(space, spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -1.0)
        high = np.where(np.isfinite(space.high), space.high, 1.0)
        return rng.uniform(low, high, size=(n, *space.shape)).astype(space.dtype)
    if isinstance(space, spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, size=n).astype(np.int64)
    if isinstance(space, spaces.MultiDiscrete):
        return rng.integers(0, space.nvec, size=(n, *space.nvec.shape)).astype(np.int64)
    raise EnvError(f"action space {space!r}: only Box, Discrete and MultiDiscrete actions are supported")


class CollectPhase:
    """Base of the trainers' phases: member ``k`` acts in sub-envs ``[k*E, (k+1)*E)`` of one env step.

    Args:
        env: the population's batched env (``population x num_envs`` sub-envs).
        num_envs: sub-envs per member (``E``).
        evo_steps: env steps per member per generation (rounded up to whole vector steps).
        entropy: the run's root entropy (phases derive their per-generation seeds from it).
    """

    def __init__(self, env: VectorEnv, num_envs: int, evo_steps: int, entropy: int):
        self.env, self.num_envs, self.evo_steps, self.entropy = env, num_envs, evo_steps, entropy
        self.agents = env.agents
        self.env_actions: dict[str, np.ndarray] = {}
        for agent in self.agents:
            space = env.single_action_space(agent)
            dtype = np.float32 if space.dtype.kind == "f" else np.int64
            self.env_actions[agent] = np.zeros((env.num_envs, *space.shape), dtype)

    @property
    def vector_steps(self) -> int:
        return -(-self.evo_steps // self.num_envs)

    def start_generation(self, population: list, generation: int):
        """What a generation's collection starts from: ``(timings, rng, tally, last_losses, obs, infos)`` —
        phase timings, the seeded RNG of fallback actions, the episode tally, each member's last losses and
        the reset env's observations and infos (``obs`` is None where the reset raised: every member has
        then failed, see :meth:`shared_step_failed`)."""
        timings: dict[str, float] = defaultdict(float)
        rng = np.random.default_rng(derived_seed(self.entropy, 6, generation))
        tally = EpisodeTally(self.env.num_envs, self.num_envs, len(population))
        last_losses: list[dict[str, float]] = [{} for _ in population]
        try:
            obs, infos = self.env.reset(seed=derived_seed(self.entropy, 1, generation))
        except Exception as err:
            self.shared_step_failed(population, err, 0)
            obs, infos = None, None
        return timings, rng, tally, last_losses, obs, infos

    def slice(self, k: int) -> slice:
        return slice(k * self.num_envs, (k + 1) * self.num_envs)

    def member_view(self, k: int, obs: dict, infos: dict | None) -> tuple[dict, dict]:
        """Observations and per-agent infos of member ``k``'s sub-envs."""
        sl = self.slice(k)
        obs_k = {a: obs[a][sl] for a in self.agents}
        infos_k = {a: {key: v[sl] for key, v in (infos or {}).get(a, {}).items()} for a in self.agents}
        return obs_k, infos_k

    def fail(self, member, stage: str, err: BaseException | None = None) -> None:
        """Mark ``member`` failed for this generation (it ranks last), with one warning."""
        if not member.failed:
            detail = f" ({type(err).__name__}: {err})" if err is not None else ""
            logger.warning("member %s failed while %s%s; it ranks last this generation", member.index, stage, detail)
        member.failed = True

    def act_randomly(self, k: int, rng: np.random.Generator) -> None:
        """Seeded random env actions for member ``k``'s sub-envs (a failed member keeps its envs stepping)."""
        sl = self.slice(k)
        for agent in self.agents:
            self.env_actions[agent][sl] = random_actions(self.env.single_action_space(agent), self.num_envs, rng)

    def finite_rows(self, rewards: dict, final_obs: dict) -> np.ndarray:
        """Sub-envs whose rewards and observations of this step are all finite."""
        n = self.env.num_envs
        ok = np.ones(n, bool)
        for values in (rewards, final_obs):
            for value in values.values():
                ok &= np.isfinite(np.asarray(value, np.float64).reshape(n, -1)).all(axis=1)
        return ok

    def flag_step_errors(self, population: list, infos: dict, ok: np.ndarray) -> None:
        """Members whose own sub-env raised in this step (``infos["step_errors"]``) fail; their rows leave ``ok``."""
        for i, text in infos["step_errors"].items():
            ok[i] = False
            self.fail(population[i // self.num_envs], f"stepping (its env raised {text}; that sub-env was reset "
                                                       "and its transition dropped)")

    def shared_step_failed(self, population: list, err: Exception, done: int) -> None:
        """The population's one ``env.reset``/``env.step`` raised, so no member can be blamed alone: every member
        fails this generation (ranks last), the rest of its collection is skipped and counted as spent (so a
        broken env cannot loop forever); the next generation starts from a fresh reset."""
        logger.warning("the population's env raised %s: %s after %d of %d vector steps; every member of this "
                       "generation ranks last", type(err).__name__, err, done, self.vector_steps)
        for member in population:
            member.failed = True
            member.steps[-1] += (self.vector_steps - done) * self.num_envs

    def flag_non_finite(self, population: list, ok: np.ndarray) -> None:
        for k, member in enumerate(population):
            if not ok[self.slice(k)].all():
                self.fail(member, "stepping (its envs returned a non-finite reward or observation; those "
                                  "transitions are dropped)")


class EpisodeTally:
    """Running team returns per sub-env, and the completed training episodes of each member."""

    def __init__(self, num_sub_envs: int, num_envs: int, population_size: int):
        self.num_envs = num_envs
        self.running = np.zeros(num_sub_envs)
        self.completed: list[list[float]] = [[] for _ in range(population_size)]

    def step(self, rewards: dict, terminations: dict, truncations: dict, infos: dict) -> np.ndarray:
        """Add a step's team rewards; returns the sub-envs whose episode ended in it."""
        self.running += np.nan_to_num(team_reward(rewards), nan=0.0, posinf=0.0, neginf=0.0)
        ended = episode_over(terminations, truncations, infos)
        for idx in np.flatnonzero(ended):
            self.completed[idx // self.num_envs].append(float(self.running[idx]))
        self.running[ended] = 0.0
        return ended

    def train_scores(self, population: list) -> list[float]:
        """Mean return of each member's completed training episodes (also appended to ``member.scores``)."""
        scores = []
        for member, returns in zip(population, self.completed):
            member.scores.extend(returns)
            scores.append(float(np.mean(returns)) if returns else math.nan)
        return scores
