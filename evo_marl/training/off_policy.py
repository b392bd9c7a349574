"""Off-policy collection phase: every member acts in its slice of one batched env, all transitions go
into one shared replay buffer, and each member learns from it at its own pace (``learn_step``)."""

from __future__ import annotations

import time

import numpy as np

from evo_marl.envs.vector import VectorEnv
from evo_marl.errors import ConfigError
from evo_marl.training.collect import CollectPhase, PhaseResult

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


class OffPolicyPhase(CollectPhase):
    """Collect ``evo_steps`` transitions per member through one batched env, learning as it goes.

    A member learns once ``learning_delay`` transitions are in the buffer and the buffer holds a batch:
    one update per ``learn_step`` of its own transitions.
    """

    def __init__(self, env: VectorEnv, memory, num_envs: int, evo_steps: int, learning_delay: int, entropy: int):
        super().__init__(env, num_envs, evo_steps, entropy)
        self.memory, self.learning_delay = memory, learning_delay

    def _act(self, member, k: int, obs: dict, infos: dict, raw: dict, rng: np.random.Generator) -> None:
        sl = self.slice(k)
        raw_act = None
        if not member.failed:
            try:
                env_act, raw_act = member.get_action(*self.member_view(k, obs, infos))
                for agent in self.agents:
                    self.env_actions[agent][sl] = env_act[agent]
            except Exception as err:
                self.fail(member, "acting (it plays seeded random actions)", err)
                raw_act = None
        if raw_act is None:
            self.act_randomly(k, rng)
        for agent in self.agents:
            if agent not in raw:
                raw[agent] = np.zeros((self.env.num_envs, member.codecs[agent].raw_dim), np.float32)
            raw[agent][sl] = 0.0 if raw_act is None else raw_act[agent]

    def _learn(self, member, pending: float) -> tuple[float, dict[str, float] | None]:
        if member.failed or len(self.memory) < member.batch_size or self.memory.counter <= self.learning_delay:
            return 0.0, None
        losses = None
        try:
            while pending >= member.learn_step:
                losses = member.learn(self.memory.sample(member.batch_size))
                pending -= member.learn_step
        except Exception as err:
            self.fail(member, "learning", err)
            return 0.0, None
        return pending, losses

    # Hooks of one phase; evo_marl.population.phases overrides them to act and learn as stacks.
    def _begin(self, population: list) -> None:
        """The phase starts (members are in training mode)."""

    def _act_all(self, population: list, obs: dict, infos: dict, raw: dict, rng: np.random.Generator) -> None:
        """Every member's env actions into ``self.env_actions`` and raw actions into ``raw``."""
        for k, member in enumerate(population):
            self._act(member, k, obs, infos, raw, rng)

    def _learn_all(self, population: list, pending: np.ndarray, last_losses: list[dict[str, float]]) -> None:
        """Every member learns once per ``learn_step`` of its ``pending`` transitions (updated in place)."""
        for k, member in enumerate(population):
            pending[k], losses = self._learn(member, pending[k])
            if losses:
                last_losses[k] = losses

    def _end(self, population: list, last_losses: list[dict[str, float]]) -> None:
        """The phase's last vector step is done (or the env failed)."""

    def __call__(self, population: list, generation: int) -> PhaseResult:
        env, n, e = self.env, self.env.num_envs, self.num_envs
        timings, rng, tally, last_losses, obs, infos = self.start_generation(population, generation)
        if obs is None:
            return PhaseResult(0, dict(timings), tally.train_scores(population), last_losses)
        pending = np.zeros(len(population))
        done = 0
        active = infos.get("active_mask", {a: np.ones(n, bool) for a in self.agents})
        for member in population:
            member.set_training_mode(True)
        self._begin(population)
        for done in range(self.vector_steps):
            t0 = time.perf_counter()
            raw: dict[str, np.ndarray] = {}
            self._act_all(population, obs, infos, raw, rng)
            t1 = time.perf_counter()
            try:
                next_obs, rewards, terms, truncs, infos = env.step(self.env_actions)
            except Exception as err:  # no member can be blamed alone (see shared_step_failed)
                self.shared_step_failed(population, err, done)
                break
            t2 = time.perf_counter()
            final_obs = infos.get("final_observation", next_obs)
            ok = self.finite_rows(rewards, final_obs)
            if "step_errors" in infos:
                self.flag_step_errors(population, infos, ok)
            fields = {"obs": obs, "action": raw, "reward": rewards, "next_obs": final_obs,
                      "termination": terms, "truncation": truncs, "active": active}
            if ok.all():
                store_transitions(self.memory, fields)
            else:
                self.flag_non_finite(population, ok)
                if ok.any():
                    store_transitions(self.memory, fields, rows=ok)
            t3 = time.perf_counter()
            pending += e
            self._learn_all(population, pending, last_losses)
            for member in population:
                member.steps[-1] += e
            t4 = time.perf_counter()
            ended = tally.step(rewards, terms, truncs, infos)
            if ended.any():
                for k, member in enumerate(population):
                    local = np.flatnonzero(ended[self.slice(k)])
                    if local.size:
                        member.reset_action_noise(local.tolist())
            obs, active = next_obs, infos.get("active_mask", active)
            timings["acting"] += t1 - t0
            timings["env"] += t2 - t1
            timings["buffer"] += t3 - t2
            timings["learning"] += t4 - t3
        else:
            done = self.vector_steps
        self._end(population, last_losses)
        return PhaseResult(done * n, dict(timings), tally.train_scores(population), last_losses)
