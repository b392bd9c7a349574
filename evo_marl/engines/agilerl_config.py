"""Translation of an evo-marl experiment config into AgileRL's population (see :mod:`evo_marl.engines.agilerl`)."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import numpy as np

from evo_marl.errors import ConfigError, SpaceError

logger = logging.getLogger("evo_marl.engines.agilerl")
FLOAT_HPS = {"lr", "lr_actor", "lr_critic", "gamma", "tau", "expl_noise", "mean_noise", "theta", "dt", "gae_lambda",
             "clip_coef", "ent_coef", "vf_coef", "max_grad_norm", "target_kl", "action_std_init"}


def agilerl_class(algo: str):
    from agilerl.algorithms import IPPO, MADDPG, MATD3

    classes = {"MADDPG": MADDPG, "MATD3": MATD3, "IPPO": IPPO}
    if algo.upper() not in classes:
        raise ConfigError("algo", algo, f"engine agilerl supports {', '.join(classes)}")
    return classes[algo.upper()]


def _defaults(cls) -> dict[str, Any]:
    """Keyword defaults of ``cls.__init__``, including those a subclass passes on through ``**kwargs``."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if "__init__" in vars(klass) and klass is not object:
            out.update({n: p.default for n, p in inspect.signature(klass.__init__).parameters.items()
                        if p.default is not inspect.Parameter.empty})
    return out


def algo_kwargs(algo: str, init_hp: dict[str, Any], num_envs: int) -> dict[str, Any]:
    """AgileRL constructor arguments for ``init_hp``, with evo-marl's defaults where ``init_hp`` is silent."""
    from evo_marl.algorithms.hparams import algo_kwargs_from_init_hp
    from evo_marl.algorithms.registry import get_algorithm

    ours, theirs = get_algorithm(algo), agilerl_class(algo)
    our_defaults, their_params = _defaults(ours), set(_defaults(theirs))
    given = algo_kwargs_from_init_hp(init_hp, set(inspect.signature(ours.__init__).parameters) | set(ours.hp_names))
    unused = sorted(k for k in given if k not in their_params)
    if unused:
        logger.warning("engine agilerl: %s %s no AgileRL counterpart and %s not used",
                       ", ".join(f"{k}={given[k]!r}" for k in unused), "has" if len(unused) == 1 else "have",
                       "is" if len(unused) == 1 else "are")
    shared = (set(ours.hp_names) & their_params) - {"index", "net_config", "hp_config", "device"}
    kwargs = {k: our_defaults[k] for k in shared if our_defaults.get(k) is not None}
    kwargs.update({k: v for k, v in given.items() if k in their_params})
    if ours.algo_name == "IPPO":  # evo-marl counts the rollout in vector steps, AgileRL in transitions
        if kwargs.get("batch_size") is None:
            from evo_marl.buffers.rollout import minibatch_size_of

            kwargs["batch_size"] = minibatch_size_of(None, given.get("minibatch_size"), given.get("num_minibatches"),
                                                     int(kwargs["learn_step"]), num_envs)
        kwargs["learn_step"] = int(kwargs["learn_step"]) * num_envs
    else:
        kwargs["vect_noise_dim"] = num_envs
    return {k: float(v) if k in FLOAT_HPS and isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in kwargs.items()}


def agilerl_net_config(net_config: dict[str, Any] | None, agent_ids: list[str]) -> dict[str, Any]:
    """AgileRL's ``net_config`` for evo-marl's (validated by evo-marl's parser first; see the module docstring)."""
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


def agilerl_hp_config(algo: str, hp_ranges: dict[str, dict[str, Any]] | None, num_envs: int):
    """AgileRL's ``HyperparameterConfig`` from evo-marl's ``hp_ranges`` (or evo-marl's default ranges)."""
    from agilerl.algorithms.core.registry import HyperparameterConfig, RLParameter

    from evo_marl.algorithms.registry import get_algorithm
    from evo_marl.hpo.parameters import HyperparameterConfig as OurConfig

    cls = get_algorithm(algo)
    ours = OurConfig.from_dict(hp_ranges) if hp_ranges else cls.default_hp_config()
    params = {}
    for name in ours.names():
        p = ours[name]
        scale = num_envs if cls.algo_name == "IPPO" and name == "learn_step" else 1
        params[name] = RLParameter(min=p.min * scale, max=p.max * scale, grow_factor=p.grow_factor,
                                   shrink_factor=p.shrink_factor, dtype=p.dtype)
    return HyperparameterConfig(**params)


def build_population(algo: str, env, net_config: dict | None, init_hp: dict, hp_ranges: dict | None,
                     population_size: int, num_envs: int, seed_sequence: np.random.SeedSequence) -> list:
    """``population_size`` AgileRL agents for ``env`` (an AgileRL/PettingZoo vector env with ``agents``)."""
    cls = agilerl_class(algo)
    agents = list(env.agents)
    _check_action_spaces(cls, {a: env.single_action_space(a) for a in agents})
    kwargs = algo_kwargs(algo, init_hp, num_envs)
    hp_config = agilerl_hp_config(algo, hp_ranges, num_envs)
    net = agilerl_net_config(net_config, agents)
    seeds = [int(s.generate_state(1)[0] & 0x7FFFFFFF) for s in seed_sequence.spawn(population_size)]
    return [cls(observation_spaces=[env.single_observation_space(a) for a in agents],
                action_spaces=[env.single_action_space(a) for a in agents], agent_ids=agents, index=k,
                hp_config=hp_config, net_config=_with_seed(net, seeds[k], agents), **kwargs)
            for k in range(population_size)]


def _with_seed(net: dict[str, Any], seed: int, agent_ids: list[str]) -> dict[str, Any]:
    """``net`` with ``random_seed`` (the generator AgileRL's networks draw architecture mutations from)."""
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
