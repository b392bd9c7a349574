"""Algorithm registry and :func:`create_population` (AgileRL call shape)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any


import torch

from evo_marl.algorithms.base import EvolvableAlgorithm
from evo_marl.algorithms.hparams import algo_kwargs_from_init_hp
from evo_marl.errors import ConfigError
from evo_marl.hpo.parameters import HyperparameterConfig
from evo_marl.seeding import SeedLike, seed_sequence

_ALGORITHMS: dict[str, str] = {
    "MADDPG": "evo_marl.algorithms.maddpg:MADDPG",
    "MATD3": "evo_marl.algorithms.matd3:MATD3",
    "IPPO": "evo_marl.algorithms.ippo:IPPO",
}


def register_algorithm(name: str, target: str | type[EvolvableAlgorithm]) -> None:
    """Make ``create_population(name, ...)`` build members of ``target`` (a class or ``"module:Class"``)."""
    _ALGORITHMS[name] = target


def get_algorithm(name: str) -> type[EvolvableAlgorithm]:
    """The algorithm class registered under ``name`` (case-insensitive)."""
    key = {k.upper(): k for k in _ALGORITHMS}.get(str(name).upper())
    if key is None:
        raise ConfigError("algo", name, f"unknown algorithm; valid algorithms are {sorted(_ALGORITHMS)}")
    target = _ALGORITHMS[key]
    if isinstance(target, str):
        import importlib

        module, cls = target.split(":")
        target = getattr(importlib.import_module(module), cls)
        _ALGORITHMS[key] = target
    return target


def create_population(algo: str, observation_spaces: Sequence | dict, action_spaces: Sequence | dict,
                      net_config: dict | None = None, INIT_HP: dict[str, Any] | None = None,
                      hp_config: HyperparameterConfig | None = None, population_size: int = 1, num_envs: int = 1,
                      device: str | torch.device = "cpu", agent_ids: Sequence[str] | None = None,
                      seed: SeedLike = None, **algo_kwargs: Any) -> list[EvolvableAlgorithm]:
    """A population of ``population_size`` members of ``algo``.

    Args:
        algo: ``"MADDPG"``, ``"MATD3"`` or ``"IPPO"``.
        observation_spaces / action_spaces: one space per agent (lists aligned with the agent ids).
        net_config: network configuration (``NET_CONFIG`` as in the AgileRL docs, or a flat one).
        INIT_HP: initial hyperparameters (upper-case AgileRL keys or lower-case argument names);
            ``INIT_HP["AGENT_IDS"]`` names the agents unless ``agent_ids`` is given.
        hp_config: ranges of the hyperparameters that mutations may change (each member gets a copy).
        population_size: number of members. num_envs: sub-envs each member acts in.
        seed: root seed; member k gets the k-th spawned child stream, so the population is reproducible.
        **algo_kwargs: further algorithm arguments (override ``INIT_HP``).
    """
    cls = get_algorithm(algo)
    if not isinstance(population_size, int) or population_size < 1:
        raise ConfigError("population_size", population_size, "must be an integer >= 1")
    init_hp = dict(INIT_HP or {})
    if agent_ids is None:
        agent_ids = init_hp.get("AGENT_IDS")
    accepted = set(inspect.signature(cls.__init__).parameters) | set(cls.hp_names)
    kwargs = algo_kwargs_from_init_hp(init_hp, accepted)
    kwargs.update(algo_kwargs)
    children = seed_sequence(seed).spawn(population_size)
    return [
        cls(observation_spaces, action_spaces, agent_ids=agent_ids, index=i, net_config=net_config,
            hp_config=hp_config, num_envs=num_envs, device=device, seed=children[i], **kwargs)
        for i in range(population_size)
    ]


