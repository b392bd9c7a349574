"""The ``mpe2`` family: any task of the ``mpe2`` package (``pip install evo-marl[mpe]``), e.g.
``make_vec_env("mpe2/simple_spread_v3", 8)``. Continuous actions are the default."""

from __future__ import annotations

import importlib

from pettingzoo import ParallelEnv

from evo_marl.envs.registry import EnvFamily, register_family
from evo_marl.errors import EnvError

KNOWN_TASKS = [
    "simple_v3", "simple_adversary_v3", "simple_crypto_v3", "simple_push_v3", "simple_reference_v3",
    "simple_speaker_listener_v4", "simple_spread_v3", "simple_tag_v3", "simple_world_comm_v3",
]


def parallel_env(task: str, continuous_actions: bool = True, **kwargs) -> ParallelEnv:
    """An ``mpe2`` task as a PettingZoo ``ParallelEnv``."""
    try:
        module = importlib.import_module(f"mpe2.{task}")
    except ImportError as err:
        raise EnvError(f"mpe2 task {task!r} could not be imported ({err}); known tasks: {KNOWN_TASKS}") from err
    return module.parallel_env(continuous_actions=continuous_actions, **kwargs)


register_family(EnvFamily("mpe2", parallel_env, lambda: list(KNOWN_TASKS), open_ended=True))
