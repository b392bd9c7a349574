"""Off-policy population training: every member acts in its slice of one batched env, all
transitions go into one shared replay buffer, and each member learns from it at its own pace."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import numpy as np

from evo_marl.envs.vector import VectorEnv
from evo_marl.errors import ConfigError
from evo_marl.training.evaluation import episode_over, team_reward
from evo_marl.training.runner import PhaseResult, derived_seed

logger = logging.getLogger(__name__)
FIELD_ALIASES = {"state": "obs", "next_state": "next_obs", "done": "termination"}


def store_transitions(memory, fields: dict[str, dict[str, np.ndarray]], rows: np.ndarray | None = None) -> None:
    """Save a vector step into ``memory`` in its own field order (AgileRL names are mapped)."""
    args = []
    for name in memory.field_names:
        key = FIELD_ALIASES.get(name, name)
        if key not in fields:
            raise ConfigError("memory.field_names", list(memory.field_names),
                              f"field {name!r} is not produced by the trainer; use names from {sorted(fields)}")
        value = fields[key]
        args.append(value if rows is None else {a: v[rows] for a, v in value.items()})
    memory.save_to_memory(*args, is_vectorised=True)


def _finite_rows(n: int, *dicts: dict[str, np.ndarray]) -> np.ndarray:
    ok = np.ones(n, bool)
    for d in dicts:
        for value in d.values():
            ok &= np.isfinite(np.asarray(value, np.float64).reshape(n, -1)).all(axis=1)
    return ok


class OffPolicyPhase:
    """Collect ``evo_steps`` transitions per member through one batched env, learning as it goes."""

    def __init__(self, env: VectorEnv, memory, num_envs: int, evo_steps: int, learning_delay: int, entropy: int):
        self.env, self.memory, self.num_envs = env, memory, num_envs
        self.evo_steps, self.learning_delay, self.entropy = evo_steps, learning_delay, entropy
        self.agents = env.agents
        n = env.num_envs
        self._env_actions: dict[str, np.ndarray] = {}
        for agent in self.agents:
            space = env.single_action_space(agent)
            dtype = np.float32 if space.dtype.kind == "f" else np.int64
            self._env_actions[agent] = np.zeros((n, *space.shape), dtype)

    def _act(self, member, k: int, obs: dict, infos: dict, raw: dict, rng: np.random.Generator) -> None:
        sl = slice(k * self.num_envs, (k + 1) * self.num_envs)
        obs_k = {a: obs[a][sl] for a in self.agents}
        infos_k = {a: {key: v[sl] for key, v in infos.get(a, {}).items()} for a in self.agents} if infos else None
        try:
            if member.failed:
                raise RuntimeError("member failed earlier in this generation")
            env_act, raw_act = member.get_action(obs_k, infos_k)
        except Exception as err:
            if not member.failed:
                logger.warning("member %s failed while acting (%s); it plays random actions and ranks last",
                               member.index, err)
                member.failed = True
            env_act, raw_act = {}, {}
            for agent in self.agents:
                space = self.env.single_action_space(agent)
                env_act[agent] = np.stack([space.sample() for _ in range(self.num_envs)])
                codec = member.codecs[agent]
                raw_act[agent] = np.zeros((self.num_envs, codec.raw_dim), np.float32)
        for agent in self.agents:
            self._env_actions[agent][sl] = env_act[agent]
            if agent not in raw:
                raw[agent] = np.zeros((self.env.num_envs, np.asarray(raw_act[agent]).shape[-1]), np.float32)
            raw[agent][sl] = raw_act[agent]

    def _learn(self, member, pending: float) -> tuple[float, dict[str, float] | None]:
        if member.failed:
            return 0.0, None
        if len(self.memory) < member.batch_size or self.memory.counter <= self.learning_delay:
            return 0.0, None
        losses = None
        try:
            while pending >= member.learn_step:
                losses = member.learn(self.memory.sample(member.batch_size))
                pending -= member.learn_step
        except Exception as err:
            logger.warning("member %s failed while learning (%s: %s); it ranks last this generation",
                           member.index, type(err).__name__, err)
            member.failed = True
            return 0.0, None
        return pending, losses

    def __call__(self, population: list, generation: int) -> PhaseResult:
        env, n, e = self.env, self.env.num_envs, self.num_envs
        timings = defaultdict(float)
        rng = np.random.default_rng(derived_seed(self.entropy, 6, generation))
        obs, infos = env.reset(seed=derived_seed(self.entropy, 1, generation))
        active = infos.get("active_mask", {a: np.ones(n, bool) for a in self.agents})
        running = np.zeros(n)
        completed: list[list[float]] = [[] for _ in population]
        pending = np.zeros(len(population))
        last_losses: list[dict[str, float]] = [{} for _ in population]
        for member in population:
            member.set_training_mode(True)
        vector_steps = -(-self.evo_steps // e)
        for _ in range(vector_steps):
            t0 = time.perf_counter()
            raw: dict[str, np.ndarray] = {}
            for k, member in enumerate(population):
                self._act(member, k, obs, infos, raw, rng)
            t1 = time.perf_counter()
            next_obs, rewards, terms, truncs, infos = env.step(self._env_actions)
            t2 = time.perf_counter()
            final_obs = infos.get("final_observation", next_obs)
            ok = _finite_rows(n, rewards, final_obs)
            fields = {"obs": obs, "action": raw, "reward": rewards, "next_obs": final_obs,
                      "termination": terms, "truncation": truncs, "active": active}
            if ok.all():
                store_transitions(self.memory, fields)
            else:
                self._flag_non_finite(population, ok)
                if ok.any():
                    store_transitions(self.memory, fields, rows=ok)
            t3 = time.perf_counter()
            for k, member in enumerate(population):
                pending[k], losses = self._learn(member, pending[k] + e)
                if losses:
                    last_losses[k] = losses
                member.steps[-1] += e
            t4 = time.perf_counter()
            running += np.nan_to_num(team_reward(rewards), nan=0.0, posinf=0.0, neginf=0.0)
            ended = episode_over(terms, truncs, infos)
            if ended.any():
                for idx in np.flatnonzero(ended):
                    completed[idx // e].append(float(running[idx]))
                running[ended] = 0.0
                for k, member in enumerate(population):
                    local = np.flatnonzero(ended[k * e:(k + 1) * e])
                    if local.size:
                        member.reset_action_noise(local.tolist())
            obs, active = next_obs, infos.get("active_mask", active)
            timings["acting"] += t1 - t0
            timings["env"] += t2 - t1
            timings["buffer"] += t3 - t2
            timings["learning"] += t4 - t3
        train_scores = []
        for member, scores in zip(population, completed):
            member.scores.extend(scores)
            train_scores.append(float(np.mean(scores)) if scores else float("nan"))
        return PhaseResult(vector_steps * n, dict(timings), train_scores, last_losses)

    def _flag_non_finite(self, population: list, ok: np.ndarray) -> None:
        for k, member in enumerate(population):
            if not ok[k * self.num_envs:(k + 1) * self.num_envs].all() and not member.failed:
                logger.warning("non-finite reward or observation in the envs of member %s; those transitions "
                               "are dropped and the member ranks last this generation", member.index)
                member.failed = True


def check_population_env(env: Any, population: list) -> VectorEnv:
    """The batched env for the whole population: widened from a per-member env, or used as is."""
    if not isinstance(env, VectorEnv):
        raise ConfigError("env", type(env).__name__,
                          "must be an evo_marl VectorEnv; build one with evo_marl.make_vec_env(...)")
    per_member = population[0].num_envs
    if any(m.num_envs != per_member for m in population):
        raise ConfigError("population.num_envs", [m.num_envs for m in population], "must be equal for every member")
    wanted = per_member * len(population)
    if env.num_envs == wanted:
        return env
    if env.num_envs == per_member:
        return env.spawn(wanted)
    raise ConfigError("env.num_envs", env.num_envs,
                      f"must be num_envs ({per_member}, as given to create_population) or population size x "
                      f"num_envs ({len(population)} x {per_member} = {wanted})")
