"""An evo-marl experiment's population as AgileRL agents (see :mod:`evo_marl.engines.agilerl`).

Hyperparameters go through evo-marl's one conversion (:func:`~evo_marl.algorithms.registry.algorithm_settings`),
so AgileRL gets evo-marl's typed values, evo-marl's defaults included; names AgileRL's algorithm does not
take are reported once. The search space maps range by range; the network config as described in
:func:`agilerl_net_config`.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from typing import Any

import numpy as np

from evo_marl.errors import ConfigError, SpaceError

logger = logging.getLogger("evo_marl.engines.agilerl")
NOT_MUTABLE = {"expl_noise", "mean_noise"}  # per-agent tensors in AgileRL, not scalar attributes


def agilerl_class(algo: str):
    """AgileRL's class for an evo-marl algorithm name."""
    from agilerl.algorithms import IPPO, MADDPG, MATD3

    classes = {"MADDPG": MADDPG, "MATD3": MATD3, "IPPO": IPPO}
    if str(algo).upper() not in classes:
        raise ConfigError("algo", algo, f"engine agilerl supports {', '.join(classes)}")
    return classes[str(algo).upper()]


def _parameters(cls) -> set[str]:
    """Keyword arguments of ``cls.__init__``, including those a subclass passes on through ``**kwargs``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and klass is not object:
            names |= {n for n, p in inspect.signature(klass.__init__).parameters.items()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names


def unused_settings(algo: str, init_hp: dict[str, Any] | None) -> list[str]:
    """``init_hp`` names (translated) that AgileRL's algorithm does not take."""
    from evo_marl.algorithms.hparams import RUN_KEYS
    from evo_marl.algorithms.registry import get_algorithm

    cls = get_algorithm(algo)
    keys = {**cls.Hyperparameters.agilerl_keys(), **cls.options}
    given = {keys.get(k, k) for k in (init_hp or {}) if k not in RUN_KEYS}
    return sorted(given - _parameters(agilerl_class(algo)))


def algo_kwargs(algo: str, hp, options: dict[str, Any], num_envs: int) -> dict[str, Any]:
    """AgileRL constructor arguments from evo-marl's typed hyperparameters ``hp`` (defaults included)."""
    from evo_marl.algorithms.registry import get_algorithm
    from evo_marl.buffers.rollout import minibatch_size_of

    cls, theirs = get_algorithm(algo), _parameters(agilerl_class(algo))
    values = hp.to_dict()
    if cls.on_policy and values.get("batch_size") is None:  # evo-marl's default minibatch for this rollout
        rollout_steps = -(-int(values["learn_step"]) // num_envs)
        values["batch_size"] = minibatch_size_of(None, options.get("minibatch_size"), options.get("num_minibatches"),
                                                 rollout_steps, num_envs)
    floats = {f.name for f in dataclasses.fields(cls.Hyperparameters) if "float" in str(f.type)}
    kwargs = {k: float(v) if k in floats and isinstance(v, int) and not isinstance(v, bool) else v
              for k, v in values.items() if k in theirs and v is not None}
    if not cls.on_policy:
        kwargs["vect_noise_dim"] = num_envs
    return kwargs


def agilerl_hp_config(algo: str, space, explicit: bool):
    """AgileRL's ``HyperparameterConfig`` for evo-marl's search space ``space`` (an evo-marl
    ``HyperparameterConfig``). AgileRL grows or shrinks a value by its factor (evo-marl's ``linear``/``log``
    mutation); ``horizon`` ranges and names AgileRL keeps as non-scalars are left out (a warning when the
    config gave them, ``explicit``)."""
    from agilerl.algorithms.core.registry import HyperparameterConfig, RLParameter

    theirs = _parameters(agilerl_class(algo)) - NOT_MUTABLE
    params, dropped = {}, []
    for name in space.names():
        p = space[name]
        if name not in theirs or p.scale == "horizon":
            dropped.append(f"{name} ({'scale horizon' if name in theirs else 'no AgileRL counterpart'})")
            continue
        params[name] = RLParameter(min=p.min, max=p.max, grow_factor=p.grow_factor, shrink_factor=p.shrink_factor,
                                   dtype=p.dtype)
    if dropped:
        (logger.warning if explicit else logger.info)("engine agilerl: not mutated: %s", ", ".join(dropped))
    return HyperparameterConfig(**params)


def agilerl_net_config(net_config: dict[str, Any] | None, agent_ids: list[str]) -> dict[str, Any]:
    """AgileRL's ``net_config`` for evo-marl's (checked by evo-marl's parser first).

    The encoder/head form is passed as written. A flat one (``hidden_size: [a, b, c]``) becomes encoder
    ``[a, b]`` -> latent ``c`` -> head ``[c]`` with AgileRL's layer norm off (evo-marl's MLPs have none);
    AgileRL's actor has hidden layers in both encoder and head, so ``[64, 64]`` gains a third 64 layer.
    """
    from evo_marl.algorithms.net_config import parse_net_config

    parse_net_config(net_config, agent_ids)
    config = {k: v for k, v in (net_config or {"hidden_size": [64, 64]}).items() if k != "critic_config"}
    if any(a in config for a in agent_ids):
        return {a: _agilerl_net(config[a]) for a in agent_ids}
    return _agilerl_net(config)


def _agilerl_net(config: dict[str, Any]) -> dict[str, Any]:
    if "encoder_config" in config or "head_config" in config:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    config = {k: v for k, v in config.items() if k != "arch"}
    hidden = list(config.pop("hidden_size", [64, 64]))
    mlp = {k: config.pop(k) for k in ("activation", "min_hidden_layers", "max_hidden_layers", "min_mlp_nodes",
                                      "max_mlp_nodes", "layer_norm") if k in config}
    mlp.setdefault("layer_norm", False)
    encoder = hidden[:-1] or hidden
    if len(hidden) < 3:
        logger.info("engine agilerl: hidden_size %s becomes encoder %s -> latent %d -> head [%d] (AgileRL's actor "
                    "has hidden layers in both encoder and head; write encoder_config/head_config to choose)",
                    hidden, encoder, hidden[-1], hidden[-1])
    return {**config, "latent_dim": hidden[-1], "encoder_config": {**mlp, "hidden_size": encoder},
            "head_config": {**mlp, "hidden_size": [hidden[-1]]}}


def build_population(algo: str, env, net_config: dict | None, init_hp: dict | None, space=None,
                     population_size: int = 1, num_envs: int = 1, seed=None, hp_init: str = "fixed") -> list:
    """``population_size`` AgileRL agents for ``env`` (an AgileRL vector env) from an evo-marl setting.

    ``space``: evo-marl's search space (None: the algorithm's default). ``hp_init="sampled"`` draws each
    member's hyperparameters from it exactly as evo-marl's ``create_population`` does for the same seed.
    """
    from evo_marl.algorithms.registry import algorithm_settings, get_algorithm
    from evo_marl.seeding import seed_sequence

    ours, cls = get_algorithm(algo), agilerl_class(algo)
    agents = list(env.agents)
    _check_action_spaces(cls, {a: env.single_action_space(a) for a in agents})
    hp, options = algorithm_settings(ours, init_hp, where="init_hp")
    unused = unused_settings(algo, init_hp)
    if unused:
        logger.warning("engine agilerl: init_hp %s: no AgileRL counterpart, not used", ", ".join(unused))
    hp_config = agilerl_hp_config(algo, space or ours.default_hp_config(), explicit=space is not None)
    net = agilerl_net_config(net_config, agents)
    population = []
    for k, child in enumerate(seed_sequence(seed).spawn(population_size)):
        member_hp = hp
        if hp_init == "sampled":  # the stream evo-marl's create_population draws member k's values from
            stream = np.random.default_rng(np.random.SeedSequence(child.entropy, spawn_key=(*child.spawn_key, 100)))
            member_hp = ours.Hyperparameters.build(hp, **ours.consistent_values(
                (space or ours.default_hp_config()).draw(stream), num_envs))
        network_seed = int(child.generate_state(1)[0] & 0x7FFFFFFF)  # AgileRL's architecture-mutation draws
        population.append(cls(
            observation_spaces=[env.single_observation_space(a) for a in agents],
            action_spaces=[env.single_action_space(a) for a in agents], agent_ids=agents, index=k,
            hp_config=hp_config, net_config=_with_seed(net, network_seed, agents),
            **algo_kwargs(algo, member_hp, options, num_envs)))
    return population


def _with_seed(net: dict[str, Any], seed: int, agent_ids: list[str]) -> dict[str, Any]:
    if any(a in net for a in agent_ids):
        return {a: {**net[a], "random_seed": seed} for a in agent_ids}
    return {**net, "random_seed": seed}


def _check_action_spaces(cls, spaces_by_agent: dict[str, Any]) -> None:
    """AgileRL's MADDPG/MATD3 take Box and Discrete actions only (IPPO takes MultiDiscrete too)."""
    from gymnasium import spaces

    if cls.__name__ == "IPPO":
        return
    for agent, space in spaces_by_agent.items():
        if not isinstance(space, (spaces.Box, spaces.Discrete)):
            raise SpaceError(f"action_space[{agent!r}]={space}: AgileRL's {cls.__name__} takes Box or Discrete "
                             "actions; use algo IPPO with engine agilerl, or engine evo-marl")
