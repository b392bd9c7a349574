"""MADDPG / MATD3 in a league: one shared replay buffer whose transitions carry the acting member per seat.

Every vector step stores all games with a ``member`` field (``agent -> int64[G]``: the population index
of the member that acted in that seat, -1 for scripted members). Member ``k`` samples only rows where
it, or an ancestor it was cloned from (its own history), held a seat, and its ``active`` weights keep
only those seats: its critics and actor learn from the seats it played, with the other seats' observations
and actions as the centralised critic's context.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from evo_marl.buffers.replay import MultiAgentReplayBuffer
from evo_marl.league.phase import LeaguePhaseBase

logger = logging.getLogger(__name__)
LEAGUE_FIELDS = ("obs", "action", "reward", "next_obs", "termination", "active", "member")


class LeagueReplayBuffer(MultiAgentReplayBuffer):
    """A :class:`MultiAgentReplayBuffer` with a ``member`` field and per-member sampling."""

    def __init__(self, memory_size: int, agent_ids, device="cpu", seed=None):
        super().__init__(memory_size, LEAGUE_FIELDS, agent_ids=agent_ids, device=device, seed=seed)

    def member_rows(self, ids) -> np.ndarray:
        """Stored rows where any seat was played by a member whose index is in ``ids``."""
        if not self._size:
            return np.zeros(0, np.int64)
        ids = np.asarray(sorted(ids), np.int64)
        own = np.zeros(self._size, bool)
        for agent in self.agent_ids:
            own |= np.isin(self._data["member"][agent][:self._size], ids)
        return np.flatnonzero(own)

    def sample_member(self, ids, batch_size: int, rows: np.ndarray | None = None):
        """``batch_size`` distinct rows of ``ids``' games (None if fewer are stored), ``active`` masked to
        their seats."""
        rows = self.member_rows(ids) if rows is None else rows
        if rows.size < batch_size:
            return None
        indices = rows[self._rng.choice(rows.size, size=int(batch_size), replace=False)]
        import torch

        ids_arr = np.asarray(sorted(ids), np.int64)
        fields = []
        for name in self.field_names:
            per_agent = {}
            for agent, store in self._data[name].items():
                values = store[indices]
                if name == "active":
                    values = values & np.isin(self._data["member"][agent][indices], ids_arr)
                per_agent[agent] = torch.from_numpy(values).to(self.device)
            fields.append(per_agent)
        return self.Batch(*fields)


class LeagueOffPolicyPhase(LeaguePhaseBase):
    """League phase for MADDPG / MATD3 members (see the module docstring)."""

    def __init__(self, env, num_envs, evo_steps, entropy, league, memory: LeagueReplayBuffer, learning_delay: int):
        super().__init__(env, num_envs, evo_steps, entropy, league)
        self.memory, self.learning_delay = memory, int(learning_delay)
        self._raw: dict[str, np.ndarray] = {}
        self.pending = np.zeros(0)

    def begin(self, population, generation) -> None:
        self.pending = np.zeros(len(population))
        lead = population[0]
        n = self.env.num_envs
        self._raw = {a: np.zeros((n, lead.codecs[a].raw_dim), np.float32) for a in self.agents}

    def act(self, population, k, games, seats, obs, t) -> None:
        member = population[k]
        batch = {}
        for s in np.unique(seats):
            batch[self.agents[s]] = obs[games[seats == s], s]
        env_act, raw_act = member.get_action(batch)
        for s in np.unique(seats):
            agent, rows = self.agents[s], games[seats == s]
            self.env_actions[rows, s] = env_act[agent]
            self._raw[agent][rows] = raw_act[agent]

    def lineage(self, member) -> set[int]:
        """The member's index and those of the ancestors it was cloned from (their games are its history)."""
        table, ids, key = self.league.table, {member.index}, f"m{member.index}"
        while key in table.members and table.members[key].parent is not None:
            key = table.members[key].parent
            ids.add(int(key[1:]))
        return ids

    def observe(self, population, t, obs, rewards, terms, truncs, final_obs, owner, active, losses) -> float:
        agents, n = self.agents, len(population)
        index = np.array([m.index for m in population] + [-1] * (self.league.pool_size - n), np.int64)
        acted = index[owner]
        for s, agent in enumerate(agents):  # scripted seats carry zero raw actions (their env actions are known)
            self._raw[agent][owner[:, s] >= n] = 0.0
        fields = [{a: obs[:, s] for s, a in enumerate(agents)}, {a: self._raw[a].copy() for a in agents},
                  {a: rewards[:, s] for s, a in enumerate(agents)}, {a: final_obs[:, s] for s, a in enumerate(agents)},
                  {a: terms[:, s] for s, a in enumerate(agents)}, {a: active[:, s] for s, a in enumerate(agents)},
                  {a: acted[:, s] for s, a in enumerate(agents)}]
        self.memory.save_to_memory(*fields, is_vectorised=True)
        started = time.perf_counter()
        if self.memory.counter > self.learning_delay:
            for k, member in enumerate(population):
                self.pending[k] += self.num_envs
                if member.failed or self.pending[k] < member.learn_step:
                    continue
                try:
                    ids, rows = self.lineage(member), None
                    while self.pending[k] >= member.learn_step:
                        rows = self.memory.member_rows(ids) if rows is None else rows
                        batch = self.memory.sample_member(ids, member.batch_size, rows)
                        if batch is None:  # too few of its own rows yet: learn later, without a backlog
                            self.pending[k] = min(self.pending[k], member.learn_step)
                            break
                        losses[k] = member.learn(batch) or losses[k]
                        self.pending[k] -= member.learn_step
                except Exception as err:
                    logger.warning("member %s failed while learning (%s: %s); it ranks last this generation",
                                   member.index, type(err).__name__, err)
                    member.failed = True
        return time.perf_counter() - started
