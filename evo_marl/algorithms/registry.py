"""The algorithm registry (the single list of algorithms) and :func:`create_population` (AgileRL call shape)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from evo_marl import validation
from evo_marl.algorithms.base import EvolvableAlgorithm
from evo_marl.algorithms.hparams import Hyperparameters, split_init_hp
from evo_marl.errors import ConfigError
from evo_marl.hpo.parameters import HyperparameterConfig
from evo_marl.seeding import SeedLike, seed_sequence

_ALGORITHMS: dict[str, str | type[EvolvableAlgorithm]] = {
    "MADDPG": "evo_marl.algorithms.maddpg:MADDPG",
    "MATD3": "evo_marl.algorithms.matd3:MATD3",
    "IPPO": "evo_marl.algorithms.ippo:IPPO",
}
HP_INIT_MODES = ("fixed", "sampled")


def register_algorithm(name: str, target: str | type[EvolvableAlgorithm]) -> None:
    """Make ``name`` usable everywhere an algorithm is named (``create_population``, YAML ``algo:``, CLI).

    ``target`` is an :class:`EvolvableAlgorithm` subclass or ``"module:Class"`` (imported on first use).
    """
    if not isinstance(name, str) or not name:
        raise ConfigError("name", name, "must be a non-empty algorithm name")
    _ALGORITHMS[name.upper()] = target


def algorithm_names() -> list[str]:
    """Every registered algorithm name."""
    return sorted(_ALGORITHMS)


def get_algorithm(name: str) -> type[EvolvableAlgorithm]:
    """The algorithm class registered under ``name`` (case-insensitive)."""
    key = str(name).upper()
    if key not in _ALGORITHMS:
        raise ConfigError("algo", name, f"unknown algorithm; valid algorithms are {algorithm_names()}")
    target = _ALGORITHMS[key]
    if isinstance(target, str):
        module, cls = target.split(":")
        target = getattr(importlib.import_module(module), cls)
        _ALGORITHMS[key] = target
    if not (isinstance(target, type) and issubclass(target, EvolvableAlgorithm)):
        raise ConfigError("algo", name, f"registered target {target!r} is not an EvolvableAlgorithm subclass")
    return target


def _foreign_keys(cls: type[EvolvableAlgorithm]) -> dict[str, str]:
    """Hyperparameter keys (upper and lower case) of the other registered algorithms -> their name."""
    own = set(cls.Hyperparameters.agilerl_keys()) | set(cls.Hyperparameters.names()) | set(cls.options)
    foreign: dict[str, str] = {}
    for name in algorithm_names():
        other = get_algorithm(name)
        if other is cls:
            continue
        for key in [*other.Hyperparameters.agilerl_keys(), *other.Hyperparameters.names(), *other.options]:
            if key not in own:
                foreign.setdefault(key, name)
    return foreign


def algorithm_settings(algo: str | type[EvolvableAlgorithm], init_hp: dict[str, Any] | None = None,
                       where: str = "INIT_HP", base: Hyperparameters | None = None,
                       **overrides: Any) -> tuple[Hyperparameters, dict[str, Any]]:
    """``(typed hyperparameters, constructor options)`` of ``algo`` from ``base`` (or the defaults) with an
    ``INIT_HP`` dict and keyword overrides applied.

    This is the one place where AgileRL-style keys (``LR_ACTOR``, ``SHARE_PARAMS``) become typed values.
    """
    cls = algo if isinstance(algo, type) else get_algorithm(algo)
    foreign = _foreign_keys(cls)
    values, options = split_init_hp(init_hp, cls.Hyperparameters, cls.options, foreign, cls.algo_name, where)
    more_values, more_options = split_init_hp(overrides, cls.Hyperparameters, cls.options, foreign, cls.algo_name,
                                              "argument")
    try:
        return cls.Hyperparameters.build(base, **{**values, **more_values}), {**options, **more_options}
    except ConfigError as err:
        raise err.renamed(f"{where}.{err.field}") from None


def create_population(algo: str, observation_spaces: Sequence | dict, action_spaces: Sequence | dict,
                      net_config: dict | None = None, INIT_HP: dict[str, Any] | None = None,
                      hp_config: HyperparameterConfig | None = None, population_size: int = 1, num_envs: int = 1,
                      device: str | torch.device = "cpu", agent_ids: Sequence[str] | None = None,
                      seed: SeedLike = None, hp_init: str = "fixed", hp: Hyperparameters | None = None,
                      **algo_kwargs: Any) -> list[EvolvableAlgorithm]:
    """A population of ``population_size`` members of ``algo``.

    Args:
        algo: a registered algorithm name (``"MADDPG"``, ``"MATD3"``, ``"IPPO"``).
        observation_spaces / action_spaces: one space per agent (lists aligned with the agent ids).
        net_config: network configuration (``NET_CONFIG`` as in the AgileRL docs, or a flat one).
        INIT_HP: initial hyperparameters (upper-case AgileRL keys or lower-case argument names);
            ``INIT_HP["AGENT_IDS"]`` names the agents unless ``agent_ids`` is given.
        hp_config: the search space: ranges that mutations may change (each member gets a copy).
        population_size: number of members. num_envs: sub-envs each member acts in.
        seed: root seed; member k gets the k-th spawned child stream, so the population is reproducible.
        hp_init: ``"fixed"`` (every member starts from ``INIT_HP``) or ``"sampled"`` (each member's
            hyperparameters named in the search space are drawn across their ranges, from its own stream).
        hp: typed hyperparameters (the algorithm's ``Hyperparameters``) to start from instead of ``INIT_HP``.
        **algo_kwargs: further hyperparameters or options (override ``INIT_HP``); unknown names raise ConfigError.
    """
    cls = get_algorithm(algo)
    validation.positive_int("population_size", population_size)
    validation.one_of("hp_init", hp_init, HP_INIT_MODES)
    init_hp = dict(INIT_HP or {})
    if agent_ids is None:
        agent_ids = init_hp.get("AGENT_IDS")
    hp, options = algorithm_settings(cls, init_hp, base=hp, **algo_kwargs)
    children = seed_sequence(seed).spawn(population_size)
    population = []
    for i, child in enumerate(children):
        member_hp = hp
        if hp_init == "sampled":
            space = hp_config or cls.default_hp_config()
            # a stream of its own: spawn keys (k, 0) and (k, 1) are the member's numpy / torch streams
            stream = np.random.default_rng(np.random.SeedSequence(child.entropy, spawn_key=(*child.spawn_key, 100)))
            member_hp = cls.Hyperparameters.build(hp, **cls.consistent_values(space.draw(stream), num_envs))
        population.append(cls(observation_spaces, action_spaces, agent_ids=agent_ids, index=i, net_config=net_config,
                              hp_config=hp_config, hp=member_hp, num_envs=num_envs, device=device, seed=child,
                              **options))
    return population
