"""On-policy collection phase: every member acts in its slice of one batched env, keeps its own rollout,
and runs PPO epochs on it whenever it holds ``rollout_steps`` vector steps (no replay buffer)."""

from __future__ import annotations

import time

import numpy as np

from evo_marl.buffers.rollout import RolloutBuffer
from evo_marl.envs.vector import VectorEnv
from evo_marl.training.collect import CollectPhase, PhaseResult


def _stack(values: dict[str, np.ndarray], agents: list[str], dtype) -> np.ndarray:
    """``agent -> [N]`` as one ``[N, A]`` array in agent order."""
    return np.stack([np.asarray(values[a]) for a in agents], axis=1).astype(dtype, copy=False)


class OnPolicyPhase(CollectPhase):
    """Collect ``evo_steps`` steps per member through one batched env; each member learns from its own rollouts.

    The env is reset at the start of every generation (seeded from the run), so a generation's last,
    partial rollout is learned from too (bootstrapped from the value of its last observation).
    """

    def __init__(self, env: VectorEnv, num_envs: int, evo_steps: int, entropy: int):
        super().__init__(env, num_envs, evo_steps, entropy)
        self.buffers: dict[int, RolloutBuffer] = {}

    def _buffer(self, k: int, member) -> RolloutBuffer:
        """Member ``k``'s rollout storage, rebuilt when its rollout length or groups changed."""
        buf = self.buffers.get(k)
        if buf is None or buf.capacity != member.rollout_steps or buf.groups != member.groups:
            lead = {g: agents[0] for g, agents in member.groups.items()}
            buf = RolloutBuffer(member.rollout_steps, self.num_envs, member.agent_ids, member.groups,
                                {g: member.obs_dims[a] for g, a in lead.items()},
                                {g: member.codecs[a].raw_dim for g, a in lead.items()})
            self.buffers[k] = buf
        buf.reset()
        return buf

    def _act(self, member, k: int, obs: dict, infos: dict, rng: np.random.Generator):
        step = None
        if not member.failed:
            try:
                step = member.act(*self.member_view(k, obs, infos))
                for agent in self.agents:
                    self.env_actions[agent][self.slice(k)] = step.env_actions[agent]
            except Exception as err:
                self.fail(member, "acting (it plays seeded random actions)", err)
                step = None
        if step is None:
            self.act_randomly(k, rng)
        return step

    def _learn(self, member, buffer: RolloutBuffer, next_obs: dict, k: int) -> dict[str, float] | None:
        sl = self.slice(k)
        try:
            buffer.set_last_obs(member.group_obs({a: next_obs[a][sl] for a in self.agents}))
            losses = member.learn(buffer)
        except Exception as err:
            self.fail(member, "learning", err)
            losses = None
        buffer.reset()
        return losses

    # Hooks of one phase; evo_marl.population.phases overrides them to act and learn as stacks.
    def _begin(self, population: list) -> None:
        """The phase starts (members are in training mode)."""

    def _act_all(self, population: list, obs: dict, infos: dict, rng: np.random.Generator) -> list:
        """Every member's env actions into ``self.env_actions``; its ``PolicyStep`` (None if it acted randomly)."""
        return [self._act(member, k, obs, infos, rng) for k, member in enumerate(population)]

    def _truncation_values(self, population: list, members: list[int], final_obs: dict, term: np.ndarray,
                           trunc: np.ndarray) -> dict[int, np.ndarray]:
        """``member.truncation_values`` of each of ``members`` on its rows (``term`` / ``trunc``: ``[N, A]``)."""
        out = {}
        for k in members:
            sl = self.slice(k)
            out[k] = population[k].truncation_values({a: final_obs[a][sl] for a in self.agents}, term[sl], trunc[sl])
        return out

    def _learn_all(self, population: list, members: list[int], buffers: list[RolloutBuffer], next_obs: dict,
                   last_losses: list[dict[str, float]]) -> None:
        """PPO epochs of ``members`` on their rollouts (bootstrapped from ``next_obs``), which are then reset."""
        for k in members:
            last_losses[k] = self._learn(population[k], buffers[k], next_obs, k) or last_losses[k]

    def _end(self, population: list, last_losses: list[dict[str, float]]) -> None:
        """The phase's last update is done."""

    def __call__(self, population: list, generation: int) -> PhaseResult:
        env, n, e, agents = self.env, self.env.num_envs, self.num_envs, self.agents
        timings, rng, tally, last_losses, obs, infos = self.start_generation(population, generation)
        if obs is None:
            return PhaseResult(0, dict(timings), tally.train_scores(population), last_losses)
        done = 0
        active = _stack(infos.get("active_mask", {a: np.ones(n, bool) for a in agents}), agents, bool)
        buffers = [self._buffer(k, m) for k, m in enumerate(population)]
        for member in population:
            member.set_training_mode(True)
        self._begin(population)
        for done in range(self.vector_steps):
            t0 = time.perf_counter()
            steps = self._act_all(population, obs, infos, rng)
            t1 = time.perf_counter()
            try:
                next_obs, rewards, terms, truncs, infos = env.step(self.env_actions)
            except Exception as err:  # no member can be blamed alone (see shared_step_failed)
                self.shared_step_failed(population, err, done)
                break
            t2 = time.perf_counter()
            final_obs = infos.get("final_observation", next_obs)
            rew, term = _stack(rewards, agents, np.float32), _stack(terms, agents, bool)
            trunc = _stack(truncs, agents, bool)
            finite = self.finite_rows(rewards, final_obs)
            if "step_errors" in infos:
                self.flag_step_errors(population, infos, finite)
            self.flag_non_finite(population, finite)
            for member in population:
                member.steps[-1] += e
            adding = [k for k, m in enumerate(population) if steps[k] is not None and not m.failed]
            t_values = self._truncation_values(population, adding, final_obs, term, trunc)
            for k in adding:
                sl, step = self.slice(k), steps[k]
                buffers[k].add(step.obs, step.actions, step.log_probs, step.values, rew[sl], term[sl], trunc[sl],
                               active[sl], t_values[k], step.action_masks)
            t_learn = time.perf_counter()
            self._learn_all(population, [k for k in adding if buffers[k].full], buffers, next_obs, last_losses)
            learn_time = time.perf_counter() - t_learn
            t3 = time.perf_counter()
            tally.step(rewards, terms, truncs, infos)
            obs = next_obs
            active = _stack(infos.get("active_mask", {a: np.ones(n, bool) for a in agents}), agents, bool)
            timings["acting"] += t1 - t0
            timings["env"] += t2 - t1
            timings["buffer"] += t3 - t2 - learn_time
            timings["learning"] += learn_time
        else:
            done = self.vector_steps
        t_learn = time.perf_counter()
        partial = [k for k, member in enumerate(population) if len(buffers[k]) and not member.failed]
        self._learn_all(population, partial, buffers, obs, last_losses)  # the generation's last, partial rollouts
        self._end(population, last_losses)
        timings["learning"] += time.perf_counter() - t_learn
        return PhaseResult(done * n, dict(timings), tally.train_scores(population), last_losses)
