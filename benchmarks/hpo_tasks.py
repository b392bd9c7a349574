"""Tasks of the HPO efficacy benchmark (``bench_hpo.py``): the config each starts from and when it counts as solved.

Every task scores a member by one number, the **score** (team return per episode, or for Bucket Brigade
team reward per night), and counts as **solved** at the first evaluation where a member passes the task's
test:

* ATC core scenarios: no loss of separation, every aircraft at its waypoint, and a team return of at least
  90 % of the scenario's approximate optimum (``shared/specs/atc.md``: head_on 24, t_formation 34,
  canonical_crossing 45, converging 44). The scenarios are deterministic, so one evaluation decides.
* mpe2 ``simple_speaker_listener_v4``: a team return of at least ``still + 0.9 * (oracle - still)``, i.e. 90 %
  of the improvement that a scripted oracle (the speaker names the goal landmark, the listener steers to it)
  makes over doing nothing. Both references are measured by :func:`mpe_references` (``bench_hpo.py
  --references``); the episodes are random, so a candidate must also pass on fresh confirmation episodes.
* Bucket Brigade ``default``: team reward per night of at least 95 % of the best scripted team's (``all_work``,
  380.3 ± 1.7 over 2000 episodes, ``benchmarks/results/bucket_brigade_baselines.md``), confirmed on fresh episodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench_atc_learning import OPTIMUM, SOLVED_FRACTION, solved

MPE_STILL, MPE_ORACLE = -69.10, -13.67  # mpe_references(episodes=1000, seed=0), measured 2026-12-03
MPE_THRESHOLD = round(MPE_STILL + 0.9 * (MPE_ORACLE - MPE_STILL), 2)
BB_ALL_WORK = 380.3  # benchmarks/results/bucket_brigade_baselines.md, default scenario, 2000 episodes
BB_THRESHOLD = round(0.95 * BB_ALL_WORK, 1)


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        name: the task's name in results. config: ``configs/<config>.yaml``. overrides: ``--set`` style
            overrides applied to every method (the env, the budget).
        threshold: the score at which a member passes. metric: the eval metric used as the score (None: the
            team return per episode). atc_scenario: an ATC scenario, solved as ``bench_atc_learning.solved``
            decides (no LoS, every waypoint, 90 % of the optimum).
        confirm_episodes: a passing member of a stochastic task must pass again on this many fresh episodes.
        final_episodes: episodes of the final evaluation of each cell's best member. source: the threshold's source.
    """

    name: str
    config: str
    threshold: float
    source: str
    overrides: tuple[str, ...] = ()
    metric: str | None = None
    atc_scenario: str | None = None
    confirm_episodes: int = 0
    final_episodes: int = 100

    def score(self, fitness: float, metrics: dict[str, float]) -> float:
        value = fitness if self.metric is None else metrics.get(self.metric, math.nan)
        return float(value) if value is not None and math.isfinite(value) else -math.inf

    def passes(self, fitness: float, metrics: dict[str, float]) -> bool:
        score = self.score(fitness, metrics)
        if self.atc_scenario is not None:
            return solved(metrics, score, self.atc_scenario)
        return score >= self.threshold


def atc_task(scenario: str, algo: str = "ippo") -> Task:
    """The ATC scenario with the one-recipe config of ``algo`` (``atc_<algo>.yaml``); IPPO's keeps the plain name."""
    optimum = OPTIMUM[scenario]
    name = f"atc_{scenario}" if algo == "ippo" else f"atc_{scenario}_{algo}"
    return Task(name, f"atc_{algo}", SOLVED_FRACTION * optimum,
                f"{SOLVED_FRACTION:.0%} of the optimum {optimum:g} (shared/specs/atc.md), no LoS, every waypoint",
                overrides=(f"env.id=atc/{scenario}",), atc_scenario=scenario, final_episodes=4)


TASKS: dict[str, Task] = {t.name: t for t in [
    Task("tiny", "tiny_matd3", -0.6, "harness check: tiny/coop_box (optimum 0, random about -8.7)",
         confirm_episodes=64, final_episodes=64),
    *(atc_task(scenario) for scenario in ("head_on", "canonical_crossing", "t_formation", "converging")),
    # the same scenarios with the MATD3 recipe: its members share one replay buffer
    *(atc_task(scenario, "matd3") for scenario in ("head_on", "canonical_crossing", "t_formation", "converging")),
    Task("mpe_speaker_listener", "mpe_speaker_listener_matd3", MPE_THRESHOLD,
         f"still {MPE_STILL} + 0.9 x (scripted oracle {MPE_ORACLE} - still)", confirm_episodes=200,
         final_episodes=500, overrides=("training.max_steps=100000",)),
    Task("bb_default", "bucket_brigade_default_ippo", BB_THRESHOLD,
         f"95 % of all_work's {BB_ALL_WORK} a night (bucket_brigade_baselines.md)", metric="team_reward_per_night",
         confirm_episodes=200, final_episodes=500, overrides=("training.max_steps=300000",)),
]}


def speaker_listener_oracle(obs: dict[str, np.ndarray], infos=None) -> dict[str, np.ndarray]:
    """Scripted speaker-listener team: the speaker says the goal colour's index, the listener steers to it.

    Observations: speaker = goal colour (3); listener = own velocity (2), landmark offsets (3 x 2), message (3).
    Continuous actions in [0, 1]: speaker = message (3); listener = (none, left, right, down, up).
    """
    speaker, listener = obs["speaker_0"], obs["listener_0"]
    message = np.eye(3, dtype=np.float32)[np.argmax(speaker, axis=1)]
    target = np.argmax(listener[:, 8:11], axis=1)
    offset = listener[:, 2:8].reshape(-1, 3, 2)[np.arange(len(listener)), target]
    push = np.clip(8.0 * offset - 4.0 * listener[:, 0:2], -1.0, 1.0)  # PD steering towards the landmark
    move = np.zeros((len(listener), 5), np.float32)
    move[:, 2], move[:, 1] = np.clip(push[:, 0], 0, 1), np.clip(-push[:, 0], 0, 1)
    move[:, 4], move[:, 3] = np.clip(push[:, 1], 0, 1), np.clip(-push[:, 1], 0, 1)
    return {"speaker_0": message, "listener_0": move}


def mpe_references(episodes: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean team return of doing nothing and of the scripted oracle on simple_speaker_listener_v4."""
    from evo_marl.envs import make_vec_env
    from evo_marl.envs.episodes import run_episodes

    env = make_vec_env("mpe2/simple_speaker_listener_v4", num_envs=episodes, seed=seed)

    def still(obs, infos=None):
        return {a: np.zeros((len(o), env.single_action_space(a).shape[0]), np.float32) for a, o in obs.items()}

    return {name: float(run_episodes(policy, env, seed=seed).returns.mean())
            for name, policy in (("still", still), ("oracle", speaker_listener_oracle))}
