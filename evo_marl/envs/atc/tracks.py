"""Recording one evaluation episode as arrays (:class:`Tracks`) for plots and analysis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evo_marl.envs.atc.env import parallel_env
from evo_marl.envs.atc.simulator import ATCSimulator
from evo_marl.envs.episodes import acting_greedily
from evo_marl.envs.native import NativeParallelEnv
from evo_marl.errors import EnvError

Policy = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass
class Tracks:
    """One episode. Index ``t`` of the state arrays is the state the agents saw before action ``t``
    (``t = 0``: after reset; ``t = T``: the final state).

    Attributes:
        agent_ids: the agents, in array order.
        x, y, hdg, tas: ``float64[T + 1, A]`` positions (NM), headings (deg) and TAS (kt).
        reached: ``bool[T + 1, A]`` waypoint reached by then.
        waypoint: ``float64[A, 2]``.
        heading_change_deg, speed_change_kt: ``float64[T, A]`` commanded changes of action ``t``
            (0 for agents that had already reached their waypoint: their actions are ignored).
        rewards: ``float64[T, A]``.
        infos: per-agent infos of every step, ``key -> float64[T, A]``.
        metrics: the episode metrics.
        scenario: scenario name.
        separation_nm / step_s: the separation standard and the step length used.
    """

    agent_ids: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    hdg: np.ndarray
    tas: np.ndarray
    reached: np.ndarray
    waypoint: np.ndarray
    heading_change_deg: np.ndarray
    speed_change_kt: np.ndarray
    rewards: np.ndarray
    infos: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    scenario: str = ""
    separation_nm: float = 5.0
    step_s: float = 10.0

    @property
    def num_steps(self) -> int:
        return self.heading_change_deg.shape[0]

    def separations(self) -> np.ndarray:
        """``float64[T + 1, A, A]`` pairwise distances (+inf on the diagonal)."""
        d = np.hypot(self.x[:, :, None] - self.x[:, None, :], self.y[:, :, None] - self.y[:, None, :])
        idx = np.arange(len(self.agent_ids))
        d[:, idx, idx] = np.inf
        return d

    def closest_approach(self) -> tuple[int, int, int, float]:
        """``(t, i, j, distance)`` of the smallest pairwise separation of the episode."""
        if len(self.agent_ids) < 2:
            raise EnvError("closest_approach: needs at least two aircraft")
        d = self.separations()
        t, i, j = np.unravel_index(np.argmin(d), d.shape)
        return int(t), int(i), int(j), float(d[t, i, j])


def _atc_env(env: Any) -> NativeParallelEnv:
    if not isinstance(env, NativeParallelEnv):
        env = parallel_env(scenario=env)
    if not isinstance(env.sim, ATCSimulator):
        raise EnvError(f"env={env!r}: record_episode needs an ATC env (evo_marl.envs.atc.parallel_env)")
    return env


def record_episode(env: Any = "head_on", policy: Policy | None = None, seed: int | None = None,
                   max_steps: int | None = None) -> Tracks:
    """Run one episode and record it.

    Args:
        env: an ATC ``parallel_env`` (or a scenario name / path / :class:`Scenario` to build one).
        policy: ``obs_dict -> action_dict``; ``None`` flies straight (all-zero actions).
        seed: reset seed (matters for ``random`` scenarios).
        max_steps: stop early after this many steps.
    """
    env = _atc_env(env)
    sim = env.sim
    dyn = sim.cfg.dynamics
    obs, _ = env.reset(seed=seed)
    ids = tuple(env.agents)  # the aircraft of this episode (padded traffic: absent slots left out)
    keep = np.flatnonzero(sim.state_arrays(0)["present"])

    def state() -> dict[str, np.ndarray]:
        return {k: v[keep] for k, v in sim.state_arrays(0).items()}

    states, hdg_cmd, spd_cmd, rewards, infos = [state()], [], [], [], []
    while env.agents and (max_steps is None or len(rewards) < max_steps):
        actions = policy(obs) if policy is not None else {a: np.zeros(2, np.float32) for a in env.agents}
        acts = np.array([np.clip(np.asarray(actions.get(a, np.zeros(2)), np.float64).reshape(2), -1, 1) for a in ids])
        acts[states[-1]["reached"]] = 0.0
        hdg_cmd.append(acts[:, 0] * dyn.max_heading_change_deg)
        spd_cmd.append(acts[:, 1] * dyn.max_speed_change_kt)
        obs, rew, _, _, info = env.step(actions)
        rewards.append([rew[a] for a in ids])
        infos.append({k: [float(info[a][k]) for a in ids] for k in info[ids[0]]})
        states.append(state())
    stacked = {k: np.stack([s[k] for s in states]) for k in ("x", "y", "hdg", "tas", "reached")}
    return Tracks(
        agent_ids=ids, **stacked,
        waypoint=np.stack([states[0]["wp_x"], states[0]["wp_y"]], axis=1),
        heading_change_deg=np.asarray(hdg_cmd, np.float64).reshape(-1, len(ids)),
        speed_change_kt=np.asarray(spd_cmd, np.float64).reshape(-1, len(ids)),
        rewards=np.asarray(rewards, np.float64).reshape(-1, len(ids)),
        infos={k: np.asarray([i[k] for i in infos], np.float64) for k in (infos[0] if infos else {})},
        metrics=dict(env.last_episode_metrics) if not env.agents else {},
        scenario=sim.scenario.name,
        separation_nm=sim.cfg.reward.separation_nm,
        step_s=dyn.step_s,
    )


def plot_member_episode(run_dir: str | Path, scenario: str, env_kwargs: dict[str, Any], member: Any,
                        seed: int | None = None) -> Path:
    """Tracks of ``member``'s evaluation episode (no exploration) in ``<run_dir>/trajectories.png``."""
    from evo_marl.envs.atc.render import plot_trajectories

    with acting_greedily([member]):
        tracks = record_episode(parallel_env(scenario, **env_kwargs), lambda obs: member.get_action(obs)[0], seed=seed)
    path = Path(run_dir) / "trajectories.png"
    plot_trajectories(tracks, path=path, title=f"atc/{scenario}: best member {member.index}")
    return path
