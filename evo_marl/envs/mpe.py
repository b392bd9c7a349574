"""The ``mpe2`` family: any task of the ``mpe2`` package (``pip install evo-marl[mpe]``), e.g.
``make_vec_env("mpe2/simple_spread_v3", 8)``. Continuous actions are the default.

Tasks are stepped through :class:`CycleParallelEnv` (``lean=True``, the default): mpe2's own AEC env driven
as a ``ParallelEnv`` without PettingZoo's wrapper layers, with the same observations, rewards, ends and
infos as ``mpe2.<task>.parallel_env`` at about half the cost per step (the wrappers' attribute forwarding and
``last()``, which computes an observation it throws away, were half of the step). ``lean=False`` builds the
PettingZoo wrapper stack instead.

Vector envs of a task with a batched NumPy port (:mod:`.mpe_batched`: ``simple_v3``, ``simple_speaker_listener_v4``,
``simple_reference_v3``, ``simple_spread_v3``, ``simple_tag_v3``,
``simple_adversary_v3``, ``simple_push_v3``, ``simple_crypto_v3``, ``simple_world_comm_v3``: every task) run
the port, which returns exactly what mpe2 returns for the same seeds and actions at a fraction of the cost;
``batched=False`` keeps mpe2's own env there.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from evo_marl import validation
from evo_marl.envs.mpe_batched import IGNORED_OPTIONS, PORTS, port_options
from evo_marl.envs.registry import EnvFamily, register_family
from evo_marl.envs.vector import SyncParallelVecEnv, VectorEnv
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike

KNOWN_TASKS = [
    "simple_v3", "simple_adversary_v3", "simple_crypto_v3", "simple_push_v3", "simple_reference_v3",
    "simple_speaker_listener_v4", "simple_spread_v3", "simple_tag_v3", "simple_world_comm_v3",
]


class CycleParallelEnv(ParallelEnv):
    """An AEC env in which every live agent acts once per cycle, as a ``ParallelEnv``.

    It does what PettingZoo's ``aec_to_parallel`` does over the wrapped env (``OrderEnforcingWrapper`` and
    ``ClipOutOfBoundsWrapper`` / ``AssertOutOfBoundsWrapper``): Box actions are clipped to their space,
    Discrete actions outside theirs are an :class:`~evo_marl.errors.EnvError`, rewards are summed over the
    cycle, observations are those of the agents alive after it, and agents that are done leave.
    """

    def __init__(self, aec: AECEnv):
        self.aec = aec
        self.possible_agents = list(aec.possible_agents)
        self.agents: list[str] = []
        self.metadata = dict(getattr(aec, "metadata", {}))
        self.render_mode = getattr(aec, "render_mode", None)
        self._spaces = {a: aec.action_space(a) for a in self.possible_agents}
        self._boxes = {a: s for a, s in self._spaces.items() if isinstance(s, spaces.Box)}

    def observation_space(self, agent: str) -> spaces.Space:
        return self.aec.observation_space(agent)

    def action_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        aec = self.aec
        aec.reset(seed=seed, options=options)
        self.agents = aec.agents[:]
        obs = {a: aec.observe(a) for a in aec.agents if not (aec.terminations[a] or aec.truncations[a])}
        return obs, dict(**aec.infos)

    def _checked(self, agent: str, action: Any) -> Any:
        box = self._boxes.get(agent)
        if box is not None:
            return action if action is None else np.clip(action, box.low, box.high)
        if action is not None and not self._spaces[agent].contains(action):
            raise EnvError(f"action {action!r} of agent {agent!r} is outside its space {self._spaces[agent]}")
        return action

    def step(self, actions: dict):
        aec = self.aec
        rewards: dict[str, float] = defaultdict(int)
        for agent in aec.agents:
            if agent != aec.agent_selection:
                raise EnvError(f"expected agent {agent!r} to act next, the env selected {aec.agent_selection!r}: "
                               "every live agent must act once per cycle, in order")
            aec.step(self._checked(agent, actions[agent]))
            for a in aec.agents:
                rewards[a] += aec.rewards[a]
        terminations, truncations, infos = dict(**aec.terminations), dict(**aec.truncations), dict(**aec.infos)
        observations = {a: aec.observe(a) for a in aec.agents}
        while aec.agents and (aec.terminations[aec.agent_selection] or aec.truncations[aec.agent_selection]):
            aec.step(None)
        self.agents = aec.agents[:]
        return observations, dict(rewards), terminations, truncations, infos

    def render(self):
        return self.aec.render()

    def state(self) -> np.ndarray:
        return self.aec.state()

    def close(self) -> None:
        self.aec.close()

    @property
    def unwrapped(self):
        return self.aec.unwrapped


def parallel_env(task: str, continuous_actions: bool = True, lean: bool = True, batched: bool = True,
                 **kwargs) -> ParallelEnv:
    """An ``mpe2`` task as a PettingZoo ``ParallelEnv`` (``lean``: see the module docstring; ``batched``
    concerns vector envs only and is accepted here so that one set of env options serves both)."""
    validation.flag("batched", batched)
    try:
        module = importlib.import_module(f"mpe2.{task}")
    except ImportError as err:
        raise EnvError(f"mpe2 task {task!r} could not be imported ({err}); known tasks: {KNOWN_TASKS}") from err
    if lean and hasattr(module, "raw_env"):
        return CycleParallelEnv(module.raw_env(continuous_actions=continuous_actions, **kwargs))
    return module.parallel_env(continuous_actions=continuous_actions, **kwargs)


def vec_env(task: str, num_envs: int, seed: SeedLike = None, batched: bool = True, **kwargs) -> VectorEnv:
    """``num_envs`` sub-envs of an ``mpe2`` task: its batched port where it has one and ``batched`` (and the
    options are ones the port models), else :class:`SyncParallelVecEnv` over :func:`parallel_env`."""
    port = PORTS.get(task)
    if validation.flag("batched", batched) and port is not None and set(kwargs) <= port_options(port):
        options = {k: v for k, v in kwargs.items() if k not in IGNORED_OPTIONS}
        return port(num_envs, seed=seed, **options)
    return SyncParallelVecEnv(lambda: parallel_env(task, **kwargs), num_envs, seed=seed)


register_family(EnvFamily("mpe2", parallel_env, lambda: list(KNOWN_TASKS), make_vec_env=vec_env, open_ended=True))
