"""IPPO in a league: one shared rollout of every game and seat; each member learns from its own seats.

The rollout holds ``rollout_steps`` vector steps of ``[G, S]`` cells (games x seats) with the acting
member's position per cell (``owner``). Because a seat's member changes only when its game starts a new
episode, every cell's time series within an episode belongs to one member, so GAE over the whole array
with member ``k``'s gamma / lambda (and its own values, stored when it acted, and its critic's value of
the last observation) is exact on the cells ``k`` owned. Member ``k`` then runs its PPO epochs on exactly
those cells, packed into rows of its parameter-sharing groups (``IPPO.update``).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from evo_marl.buffers.rollout import RolloutBatch, compute_gae
from evo_marl.errors import ConfigError
from evo_marl.league.phase import LeaguePhaseBase

logger = logging.getLogger(__name__)


def _seat_groups(member, agents: list[str]) -> list[tuple[str, np.ndarray]]:
    """``(group, bool[S])``: the seats each of the member's parameter-sharing groups plays."""
    return [(g, np.array([a in set(ags) for a in agents])) for g, ags in member.groups.items()]


class LeagueOnPolicyPhase(LeaguePhaseBase):
    """League phase for IPPO members (see the module docstring)."""

    def __init__(self, env, num_envs, evo_steps, entropy, league, rollout_steps: int):
        super().__init__(env, num_envs, evo_steps, entropy, league)
        if rollout_steps < 1:
            raise ConfigError("league.rollout_steps", rollout_steps, "must be an integer >= 1")
        self.rollout_steps = int(rollout_steps)
        self.pos = 0
        self._arrays: dict[str, np.ndarray] = {}

    def _alloc(self, obs_dim: int, raw_dim: int) -> None:
        r, (g, s) = self.rollout_steps, (self.env.num_envs, len(self.agents))
        want = {"obs": ((r, g, s, obs_dim), np.float32), "raw": ((r, g, s, raw_dim), np.float32),
                "log_probs": ((r, g, s), np.float32), "values": ((r, g, s), np.float32),
                "rewards": ((r, g, s), np.float32), "terms": ((r, g, s), bool), "truncs": ((r, g, s), bool),
                "active": ((r, g, s), bool), "owner": ((r, g, s), np.int64), "tvalues": ((r, g, s), np.float32)}
        if not self._arrays or self._arrays["raw"].shape[-1] != raw_dim:
            self._arrays = {k: np.zeros(shape, dtype) for k, (shape, dtype) in want.items()}

    def begin(self, population, generation) -> None:
        lead = population[0]
        self._alloc(lead.obs_dims[self.agents[0]], lead.codecs[self.agents[0]].raw_dim)
        self.pos = 0

    def act(self, population, k, games, seats, obs, t) -> None:
        member, a = population[k], self._arrays
        for group, in_group in _seat_groups(member, self.agents):
            sel = in_group[seats]
            if not sel.any():
                continue
            gi, si = games[sel], seats[sel]
            raw, log_prob, value = member.act_group(group, obs[gi, si])
            a["raw"][self.pos, gi, si] = raw
            a["log_probs"][self.pos, gi, si] = log_prob
            a["values"][self.pos, gi, si] = value
            self.env_actions[gi, si] = member.codecs[self.agents[0]].to_env(raw)

    def _member_values(self, member, k: int, obs: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Values ``[G, S]`` of ``obs`` ``[G, S, dim]`` by member ``k``'s critic where ``cells`` (zeros elsewhere)."""
        out = np.zeros(cells.shape, np.float32)
        for group, in_group in _seat_groups(member, self.agents):
            mask = cells & in_group[None, :]
            if mask.any():
                out[mask] = member.group_values(group, obs[mask])
        return out

    def observe(self, population, t, obs, rewards, terms, truncs, final_obs, owner, active, losses) -> float:
        a, p = self._arrays, self.pos
        a["obs"][p], a["rewards"][p], a["terms"][p], a["truncs"][p] = obs, rewards, terms, truncs
        a["owner"][p], a["active"][p] = owner, active
        a["tvalues"][p] = 0.0
        need = truncs & ~terms
        if need.any():
            for k, member in enumerate(population):
                cells = need & (owner == k)
                if cells.any() and not member.failed:
                    a["tvalues"][p] += self._member_values(member, k, final_obs, cells)
        self.pos += 1
        self._last = (final_obs, owner)
        if self.pos < self.rollout_steps:
            return 0.0
        return self._learn_all(population, losses)

    def finish(self, population, next_obs, losses) -> float:
        return self._learn_all(population, losses) if self.pos else 0.0

    def _learn_all(self, population, losses) -> float:
        """Every member learns from the cells it owned in the rollout, then the rollout restarts."""
        started = time.perf_counter()
        a, p = self._arrays, self.pos
        final_obs, owner = self._last
        for k, member in enumerate(population):
            mine = (a["owner"][:p] == k) & a["active"][:p]
            if member.failed or not mine.any():
                continue
            try:
                last_values = self._member_values(member, k, final_obs, owner == k)
                adv, ret = compute_gae(a["rewards"][:p], a["values"][:p], a["terms"][:p], a["truncs"][:p],
                                       last_values, member.gamma, member.gae_lambda, a["tvalues"][:p])
                losses[k] = member.update(self._batch(member, mine, adv, ret)) or losses[k]
            except Exception as err:
                logger.warning("member %s failed while learning (%s: %s); it ranks last this generation",
                               member.index, type(err).__name__, err)
                member.failed = True
        self.pos = 0
        return time.perf_counter() - started

    def _batch(self, member, mine: np.ndarray, adv: np.ndarray, ret: np.ndarray) -> RolloutBatch:
        """The member's cells packed into rows: group ``g`` with ``m`` agents fills ``m`` columns row by row."""
        a, p = self._arrays, self.pos
        groups = _seat_groups(member, self.agents)
        picks = [np.nonzero(mine & in_group[None, None, :]) for _, in_group in groups]
        widths = [len(member.groups[g]) for g, _ in groups]
        rows = max(-(-idx[0].size // m) for idx, m in zip(picks, widths))
        cols = sum(widths)
        scalars = {name: np.zeros((rows, cols), np.float32) for name in ("log_probs", "values", "advantages", "returns")}
        active = np.zeros((rows, cols), bool)
        obs, actions, columns, start = {}, {}, {}, 0
        for (g, _), idx, m in zip(groups, picks, widths):
            count = idx[0].size
            flat_obs = np.zeros((rows * m, a["obs"].shape[-1]), np.float32)
            flat_raw = np.zeros((rows * m, a["raw"].shape[-1]), np.float32)
            flat_obs[:count], flat_raw[:count] = a["obs"][:p][idx], a["raw"][:p][idx]
            obs[g], actions[g] = flat_obs.reshape(rows, m, -1), flat_raw.reshape(rows, m, -1)
            for name, source in (("log_probs", a["log_probs"][:p]), ("values", a["values"][:p]),
                                 ("advantages", adv), ("returns", ret)):
                block = np.zeros(rows * m, np.float32)
                block[:count] = source[idx]
                scalars[name][:, start:start + m] = block.reshape(rows, m)
            flag = np.zeros(rows * m, bool)
            flag[:count] = True
            active[:, start:start + m] = flag.reshape(rows, m)
            columns[g] = list(range(start, start + m))
            start += m
        device = member.device

        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(x).to(device)

        return RolloutBatch(obs={g: tensor(x) for g, x in obs.items()},
                            actions={g: tensor(x) for g, x in actions.items()},
                            action_masks={g: None for g in obs}, log_probs=tensor(scalars["log_probs"]),
                            values=tensor(scalars["values"]), advantages=tensor(scalars["advantages"]),
                            returns=tensor(scalars["returns"]), active=tensor(active), columns=columns)
