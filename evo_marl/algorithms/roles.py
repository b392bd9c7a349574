"""Acting by role: a member trained with parameter sharing acts for agents it never saw by name.

With ``share_params=True`` every agent whose observation and action spaces match one parameter-sharing
group uses that group's networks, so the policy is a function of the observation alone. A
:class:`RolePolicy` applies it to observations keyed by *any* agent ids, e.g. a member trained on
agents ``A1..A3`` acting for ``A1..A8`` in a bigger scenario::

    policy = RolePolicy(member, env)              # env: any PettingZoo ParallelEnv or evo-marl VectorEnv
    actions = policy(obs, infos)                  # obs: agent -> [B, ...] (or one observation each)

Each agent id is matched to the group whose spaces equal its own (from ``env``, or from the
observation size alone when no env is given); all agents of a group are stacked into one batch, passed
to the member's public ``get_action`` under the group's own agent ids, and split back per agent id.
Rows of agents that ``infos["active_mask"]`` marks inactive are not computed (their action is zeros).
A member trained without parameter sharing acts only for its own agent ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from evo_marl.algorithms.spaces import space_to_dict
from evo_marl.errors import SpaceError


def _signature(space: spaces.Space) -> str:
    return repr(space_to_dict(space))


def _space_of(env: Any, kind: str, agent: str) -> spaces.Space | None:
    """``env``'s observation or action space of ``agent`` (None when the env does not know the agent)."""
    for name in (f"single_{kind}_space", f"{kind}_space"):
        fn = getattr(env, name, None)
        if callable(fn):
            try:
                return fn(agent)
            except (KeyError, ValueError, IndexError):
                return None
    return None


class RolePolicy:
    """``(obs, infos) -> env actions`` of ``member`` for agents matched by role (see the module docstring).

    Args:
        member: a population member (MADDPG, MATD3, IPPO or any ``EvolvableAlgorithm``).
        env: where the agents' spaces come from (optional): a ``ParallelEnv`` or ``VectorEnv``, or a
            mapping ``agent -> (observation_space, action_space)``.
    """

    def __init__(self, member: Any, env: Any = None):
        self.member = member
        self.env = env
        self._lead = {g: agents[0] for g, agents in member.groups.items()}
        self._sig = {g: (_signature(member.observation_spaces[a]), _signature(member.action_spaces[a]))
                     for g, a in self._lead.items()}
        self.roles: dict[str, str] = {}  # agent id -> group

    # ------------------------------------------------------------------ matching
    def _spaces(self, agent: str) -> tuple[spaces.Space | None, spaces.Space | None]:
        if isinstance(self.env, Mapping):
            pair = self.env.get(agent)
            return (pair[0], pair[1]) if pair is not None else (None, None)
        if self.env is None:
            return None, None
        return _space_of(self.env, "observation", agent), _space_of(self.env, "action", agent)

    def role_of(self, agent: str, obs: np.ndarray | None = None) -> str:
        """The parameter-sharing group that acts for ``agent`` (cached)."""
        if agent in self.roles:
            return self.roles[agent]
        m = self.member
        obs_space, act_space = self._spaces(agent)
        if not m.share_params:
            own = agent in m.agent_ids and (obs_space is None or _signature(obs_space) == self._sig[agent][0]) and \
                (act_space is None or _signature(act_space) == self._sig[agent][1])
            if not own:
                raise SpaceError(
                    f"agent {agent!r}: this {m.algo_name} member was trained without parameter sharing "
                    f"(share_params=False), so it acts only for its own agents {m.agent_ids} with their own "
                    "spaces; train with SHARE_PARAMS: true to act for agents matched by role")
            self.roles[agent] = agent
            return agent
        if obs_space is not None:
            want = _signature(obs_space)
            found = [g for g, (o, a) in self._sig.items()
                     if o == want and (act_space is None or a == _signature(act_space))]
            described = f"observation space {obs_space}" + (f" and action space {act_space}" if act_space else "")
        else:
            size = None if obs is None else int(np.prod(np.shape(obs)[-1:]))
            found = [g for g in self._sig if size is not None and m.obs_dims[self._lead[g]] == size]
            described = f"observations of size {size} (no env given to read its spaces)"
        if len(found) != 1:
            groups = {self._lead[g]: f"{m.observation_spaces[self._lead[g]]} -> {m.action_spaces[self._lead[g]]}"
                      for g in self._sig}
            why = "no parameter-sharing group of the member matches" if not found else \
                f"several groups match ({[self._lead[g] for g in found]}); pass the env to tell them apart"
            raise SpaceError(f"agent {agent!r} with {described}: {why}; the member's groups are {groups}")
        self.roles[agent] = found[0]
        return found[0]

    # ------------------------------------------------------------------ acting
    def _batched(self, agent: str, value: np.ndarray) -> bool:
        group = self.roles[agent]
        space = self.member.observation_spaces[self._lead[group]]
        single = 0 if isinstance(space, spaces.Discrete) else len(space.shape)
        return np.ndim(value) > single

    def act(self, obs: Mapping[str, np.ndarray], infos: Mapping | None = None) -> tuple[dict, dict]:
        """Env actions and raw actions per agent id, shaped like ``obs`` (batched or not)."""
        if not obs:
            return {}, {}
        for agent, value in obs.items():
            self.role_of(agent, value)
        batched = self._batched(next(iter(obs)), next(iter(obs.values())))
        active = infos.get("active_mask") if isinstance(infos, Mapping) else None
        by_group: dict[str, list[str]] = {}
        for agent in obs:
            by_group.setdefault(self.roles[agent], []).append(agent)
        env_out, raw_out = {}, {}
        for group, agents in by_group.items():
            rows = [np.asarray(obs[a]) if batched else np.asarray(obs[a])[None] for a in agents]
            keep = [np.ones(len(r), bool) if active is None or a not in active else np.asarray(active[a], bool)
                    for a, r in zip(agents, rows)]
            masks = [self._action_mask(infos, a, batched) for a in agents]
            env_a, raw_a = self._group_action(group, [r[k] for r, k in zip(rows, keep)],
                                              None if all(m is None for m in masks) else
                                              [None if m is None else m[k] for m, k in zip(masks, keep)])
            start = 0
            for agent, r, k in zip(agents, rows, keep):
                n = int(k.sum())
                env_full = np.zeros((len(r), *env_a.shape[1:]), env_a.dtype)
                raw_full = np.zeros((len(r), *raw_a.shape[1:]), raw_a.dtype)
                env_full[k], raw_full[k] = env_a[start:start + n], raw_a[start:start + n]
                start += n
                env_out[agent] = env_full if batched else env_full[0]
                raw_out[agent] = raw_full if batched else raw_full[0]
        return env_out, raw_out

    def __call__(self, obs: Mapping[str, np.ndarray], infos: Mapping | None = None) -> dict:
        return self.act(obs, infos)[0]

    @staticmethod
    def _action_mask(infos: Mapping | None, agent: str, batched: bool) -> np.ndarray | None:
        info = infos.get(agent) if isinstance(infos, Mapping) else None
        mask = info.get("action_mask") if isinstance(info, Mapping) else None
        if mask is None:
            return None
        mask = np.asarray(mask)
        return mask if batched else mask[None]

    def _group_action(self, group: str, rows: list[np.ndarray], masks: list | None) -> tuple[np.ndarray, np.ndarray]:
        """One ``get_action`` call for all rows of a group, spread evenly over the group's own agent ids
        (a member computes every one of its agents, so this wastes no forward pass)."""
        own = self.member.groups[group]
        x = np.concatenate(rows, axis=0)
        total = len(x)
        if total == 0:
            x = np.zeros((1, *x.shape[1:]), x.dtype)
        per = -(-len(x) // len(own))
        pad = per * len(own) - len(x)
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)], axis=0) if pad else x
        chunk_obs = {a: x[i * per:(i + 1) * per] for i, a in enumerate(own)}
        chunk_infos = None
        if masks is not None:
            dim = next(m for m in masks if m is not None).shape[1:]
            full = np.concatenate([np.ones((len(r), *dim), bool) if m is None else m != 0
                                   for m, r in zip(masks, rows)], axis=0)
            full = np.concatenate([full, np.ones((len(x) - len(full), *dim), bool)], axis=0)
            chunk_infos = {a: {"action_mask": full[i * per:(i + 1) * per]} for i, a in enumerate(own)}
        env_a, raw_a = self.member.get_action(chunk_obs, chunk_infos)
        env_all = np.concatenate([np.asarray(env_a[a]) for a in own], axis=0)[:total]
        raw_all = np.concatenate([np.asarray(raw_a[a]) for a in own], axis=0)[:total]
        return env_all, raw_all


def role_policy(member: Any, env: Any = None) -> RolePolicy:
    """Shorthand for :class:`RolePolicy` (``member`` switched to evaluation mode is up to the caller)."""
    return RolePolicy(member, env)
