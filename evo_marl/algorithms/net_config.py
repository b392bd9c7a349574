"""Parsing of network configurations (``NET_CONFIG``) into :class:`EvolvableMLP` keyword arguments.

Accepted forms, per agent (``{agent_id: {...}}``) or global (one dict for every agent):

* AgileRL style: ``{"encoder_config": {"hidden_size": [32, 32], "activation": "ReLU"},
  "head_config": {"hidden_size": [32]}}``. evo-marl builds one MLP whose hidden layers are the
  encoder's, then ``latent_dim`` if given, then the head's.
* flat: ``{"hidden_size": [64, 64], "activation": "ReLU", "min_mlp_nodes": 16, ...}``
  (the legacy ``"arch": "mlp"`` key is accepted).

A ``"critic_config"`` entry (same forms) sets the critics' networks; otherwise critics use the
configuration of the first agent of their group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evo_marl.errors import ConfigError
from evo_marl.validation import suggestion

DEFAULT_HIDDEN = [64, 64]
MLP_KEYS = {"hidden_size", "activation", "min_hidden_layers", "max_hidden_layers", "min_mlp_nodes", "max_mlp_nodes"}
# AgileRL keys for features evo-marl's MLPs do not have: accepted only with the value that describes what
# evo-marl does anyway (so configs port as written); any other value is an error, never silently dropped.
AGILERL_KEYS: dict[str, tuple[tuple[Any, ...], str]] = {
    "layer_norm": ((False, None), "evo-marl MLPs have no normalisation layers (growth must preserve the function)"),
    "output_layernorm": ((False, None), "evo-marl MLPs have no normalisation layers"),
    "simba": ((False, None), "evo-marl builds plain MLPs, not SimBa residual blocks"),
    "num_blocks": ((None,), "evo-marl builds plain MLPs, not SimBa residual blocks"),
    "arch": (("mlp",), "evo-marl builds MLPs (observations are flattened)"),
    "noise_std": ((None, 0, 0.0), "evo-marl has no noisy layers; exploration is the algorithm's"),
    "output_activation": ((None,), "the algorithm chooses the output (tanh for Box actors, logits otherwise)"),
    "squash_output": ((False, None), "the algorithm chooses the output (tanh for Box actors)"),
    "init_layers": ((True, None), "evo-marl always initialises its layers (small output layer)"),
    "output_vanish": ((True, False, None), "evo-marl scales the output layer down per algorithm"),
    "vanish_output": ((True, False, None), "evo-marl scales the output layer down per algorithm"),
}
SECTION_KEYS = {"encoder_config", "head_config", "latent_dim", "min_latent_dim", "max_latent_dim", "critic_config"}


def _mlp_kwargs(section: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(section) - MLP_KEYS - set(AGILERL_KEYS) - SECTION_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{where}.{key}", section[key], f"unknown network option{suggestion(key, MLP_KEYS | SECTION_KEYS)}")
    for key in set(section) & set(AGILERL_KEYS):
        accepted, reason = AGILERL_KEYS[key]
        if not any(section[key] is v or (type(section[key]) is type(v) and section[key] == v) for v in accepted):
            raise ConfigError(f"{where}.{key}", section[key], f"not supported: {reason}; remove it or use one of "
                                                              f"{list(accepted)}")
    kwargs = {k: section[k] for k in MLP_KEYS if k in section}
    if "hidden_size" in kwargs:
        hidden = kwargs["hidden_size"]
        if isinstance(hidden, (int, str)) or not isinstance(hidden, Sequence) or not hidden or not all(
            isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden
        ):
            raise ConfigError(f"{where}.hidden_size", hidden, "must be a non-empty list of positive integers")
        kwargs["hidden_size"] = list(hidden)
    return kwargs


def _parse_one(config: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ConfigError(where, config, "must be a dictionary of network options")
    if "encoder_config" in config or "head_config" in config:
        _mlp_kwargs({k: v for k, v in config.items() if k not in ("encoder_config", "head_config")}, where)
        encoder = _mlp_kwargs(config.get("encoder_config", {}) or {}, f"{where}.encoder_config")
        head = _mlp_kwargs(config.get("head_config", {}) or {}, f"{where}.head_config")
        hidden = list(encoder.get("hidden_size", DEFAULT_HIDDEN if "head_config" not in config else []))
        if "latent_dim" in config:
            hidden.append(int(config["latent_dim"]))
        hidden += head.get("hidden_size", [])
        merged = {**head, **encoder, "hidden_size": hidden or list(DEFAULT_HIDDEN)}
        return merged
    kwargs = _mlp_kwargs(config, where)
    kwargs.setdefault("hidden_size", list(DEFAULT_HIDDEN))
    return kwargs


def _bounded(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Widen the default growth bounds so that the configured architecture lies inside them."""
    hidden = kwargs["hidden_size"]
    kwargs.setdefault("min_hidden_layers", min(1, len(hidden)))
    kwargs.setdefault("max_hidden_layers", max(4, len(hidden)))
    kwargs.setdefault("min_mlp_nodes", min(16, min(hidden)))
    kwargs.setdefault("max_mlp_nodes", max(512, max(hidden)))
    return kwargs


def parse_net_config(net_config: dict[str, Any] | None, agent_ids: Sequence[str]) -> tuple[dict[str, dict], dict | None]:
    """Actor MLP kwargs per agent, and the critic MLP kwargs (``None``: follow each group's first actor).

    Raises:
        ConfigError: for unknown options, malformed hidden sizes, or per-agent configs that miss agents.
    """
    config = dict(net_config or {})
    critic_section = config.pop("critic_config", None)
    per_agent = [a for a in agent_ids if a in config]
    if per_agent:
        missing = [a for a in agent_ids if a not in config]
        if missing:
            raise ConfigError("net_config", sorted(config), f"per-agent network configs must cover every agent; missing {missing}")
        extra = sorted(set(config) - set(agent_ids))
        if extra:
            raise ConfigError(f"net_config.{extra[0]}", config[extra[0]], f"is not an agent id; agents are {list(agent_ids)}")
        actors = {a: _bounded(_parse_one(config[a], f"net_config.{a}")) for a in agent_ids}
    else:
        shared = _bounded(_parse_one(config, "net_config"))
        actors = {a: dict(shared) for a in agent_ids}
    critic = _bounded(_parse_one(critic_section, "net_config.critic_config")) if critic_section else None
    return actors, critic
