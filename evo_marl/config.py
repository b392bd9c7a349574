"""Typed experiment configuration, loaded from YAML with errors that name the field, the value and the rule.

A config file mirrors :class:`ExperimentConfig`; every section and field is optional except ``env.id``::

    name: atc_head_on_matd3
    seed: 0
    algo: MATD3
    population_size: 4
    env: {id: atc/head_on, num_envs: 8}
    net_config: {hidden_size: [64, 64], activation: ReLU}
    init_hp: {BATCH_SIZE: 128, LR_ACTOR: 0.001}
    training: {max_steps: 50000, evo_steps: 5000, eval_loop: 4}
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml

from evo_marl.errors import ConfigError
from evo_marl.league.config import LeagueConfig


@dataclass
class EnvConfig:
    """Which env to train on. ``id`` is a registered id (``atc/head_on``); ``num_envs`` is per member."""

    id: str = "atc/head_on"
    num_envs: int = 8
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive("env.num_envs", self.num_envs)
        if "/" not in self.id:
            raise ConfigError("env.id", self.id, "must look like 'family/scenario' (see `evo-marl scenarios`)")


@dataclass
class TournamentConfig:
    tournament_size: int = 2
    elitism: bool = True

    def __post_init__(self) -> None:
        _positive("tournament.tournament_size", self.tournament_size)


@dataclass
class MutationConfig:
    """Relative probabilities of each mutation kind (normalised) and their strengths."""

    no_mutation: float = 0.4
    architecture: float = 0.2
    new_layer_prob: float = 0.2
    parameters: float = 0.2
    activation: float = 0.0
    rl_hp: float = 0.2
    mutation_sd: float = 0.1
    activation_selection: list[str] = field(default_factory=lambda: ["ReLU", "ELU", "GELU", "Tanh"])

    def __post_init__(self) -> None:
        for name in ("no_mutation", "architecture", "new_layer_prob", "parameters", "activation", "rl_hp",
                     "mutation_sd"):
            if getattr(self, name) < 0:
                raise ConfigError(f"mutation.{name}", getattr(self, name), "must be >= 0")


@dataclass
class StoppingConfig:
    """Early stopping: ``target`` (best fitness), ``convergence`` (window/patience), ``conflict_free_streak``."""

    target: float | None = None
    convergence_target: float | None = None
    convergence_window: int = 5
    convergence_patience: int = 3
    conflict_free_streak: int | None = None


@dataclass
class TrainingConfig:
    """Budget and schedule. Steps are environment steps per member."""

    max_steps: int = 50_000
    evo_steps: int = 5_000
    eval_steps: int | None = None
    eval_loop: int = 4
    learning_delay: int = 1_000
    memory_size: int = 100_000
    threads: int = 1
    stopping: StoppingConfig = field(default_factory=StoppingConfig)

    def __post_init__(self) -> None:
        for name in ("max_steps", "evo_steps", "eval_loop", "memory_size", "threads"):
            _positive(f"training.{name}", getattr(self, name))
        if self.eval_steps is not None:
            _positive("training.eval_steps", self.eval_steps)
        if self.learning_delay < 0:
            raise ConfigError("training.learning_delay", self.learning_delay, "must be >= 0")


@dataclass
class OutputConfig:
    """Where runs go: ``<root>/<name>/``."""

    root: str = "populations"
    checkpoint: bool = True
    keep_checkpoints: int | None = 3
    save_buffer: bool = True
    plots: bool = True


@dataclass
class TrackingConfig:
    """Optional metric backends (CSV is always written): W&B and TensorBoard."""

    wandb: bool = False
    tensorboard: bool = False
    wandb_kwargs: dict[str, Any] = field(default_factory=lambda: {"project": "evo-marl", "mode": "offline"})


@dataclass
class ExperimentConfig:
    """One experiment: env, algorithm, population, hyperparameters, evolution, budget, outputs."""

    name: str = "experiment"
    seed: int | None = 0
    algo: str = "MATD3"
    population_size: int = 4
    env: EnvConfig = field(default_factory=EnvConfig)
    net_config: dict[str, Any] = field(default_factory=lambda: {"hidden_size": [64, 64]})
    init_hp: dict[str, Any] = field(default_factory=dict)
    hp_ranges: dict[str, dict[str, Any]] | None = None
    tournament: TournamentConfig = field(default_factory=TournamentConfig)
    mutation: MutationConfig = field(default_factory=MutationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    league: LeagueConfig | None = None  # population play (evo_marl.league); None: homogeneous teams

    def __post_init__(self) -> None:
        _positive("population_size", self.population_size)
        if self.algo.upper() not in ("MADDPG", "MATD3", "IPPO"):
            raise ConfigError("algo", self.algo, "must be one of MADDPG, MATD3, IPPO")
        self.algo = self.algo.upper()
        if self.seed is not None and self.seed < 0:
            raise ConfigError("seed", self.seed, "must be a non-negative integer or null")
        if not self.name or "/" in self.name:
            raise ConfigError("name", self.name, "must be a non-empty run name without '/'")

    @property
    def run_dir(self) -> Path:
        return Path(self.output.root) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(name, value, "must be an integer >= 1")


def _check_type(path: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a simple type hint (int, float, str, bool, list, dict, Optional, nested dataclass)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        others = [o for o in options if o is not type(None)]
        if len(others) == 1:  # Optional[X]: X's own error names the field
            return _check_type(path, value, others[0])
        for option in others:
            try:
                return _check_type(path, value, option)
            except ConfigError as err:
                errors.append(err.rule)
        raise ConfigError(path, value, " or ".join(errors))
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path)
    if hint is Any:
        return value
    base = origin or hint
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, value, "must be a number")
        return float(value)
    if base is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(path, value, "must be an integer")
        return int(value)
    if base is bool and not isinstance(value, bool):
        raise ConfigError(path, value, "must be true or false")
    if base is str and not isinstance(value, str):
        raise ConfigError(path, value, "must be a string")
    if base is list and not isinstance(value, list):
        raise ConfigError(path, value, "must be a list")
    if base is dict and not isinstance(value, dict):
        raise ConfigError(path, value, "must be a mapping")
    return value


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types with named errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path or cls.__name__, data, "must be a mapping of fields")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in names:
            guess = get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else f"; valid fields are {names}"
            raise ConfigError(where, value, f"unknown field{hint}")
        kwargs[key] = _check_type(where, value, hints[key])
    return cls(**kwargs)


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from a YAML file (or a dict), with ``key.sub=value`` overrides applied."""
    if isinstance(source, dict):
        data = dict(source)
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError("config", str(path), "file not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError("config", str(path), f"is not valid YAML ({err})") from err
        data.setdefault("name", path.stem)
    for item in overrides or []:
        apply_override(data, item)
    return from_dict(ExperimentConfig, data)


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply ``"training.max_steps=1000"`` (the value is parsed as YAML) to a config mapping in place."""
    if "=" not in item:
        raise ConfigError("--set", item, "must look like key.subkey=value")
    key, raw = item.split("=", 1)
    target = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"--set {key}", raw, f"{part!r} is not a section")
    target[parts[-1]] = yaml.safe_load(raw)


def default_config() -> ExperimentConfig:
    """The experiment ``evo-marl train`` runs with no config: MATD3 on ATC head-on, a few minutes on a CPU.

    The same setting as ``configs/atc_head_on_matd3.yaml``: Huber critic loss (robust to the timeout
    penalty the agents cannot predict), a slow actor, wide exploration noise, mild target smoothing.
    Seeds 0-3 solve head_on (no loss of separation, both waypoints, return about 24 of an optimum of
    about 24) after 20k-30k env steps per member; training stops after three clean evaluations in a row.
    """
    return load_config({
        "name": "atc_head_on_matd3",
        "seed": 0,
        "algo": "MATD3",
        "population_size": 4,
        "env": {"id": "atc/head_on", "num_envs": 8},
        "net_config": {"hidden_size": [64, 64]},
        "init_hp": {"BATCH_SIZE": 256, "LR_ACTOR": 5e-5, "LR_CRITIC": 1e-3, "GAMMA": 0.99, "TAU": 0.01,
                    "LEARN_STEP": 8, "EXPL_NOISE": 0.3, "TARGET_NOISE": 0.1, "HUBER_DELTA": 0.3,
                    "SHARE_PARAMS": True},
        "hp_ranges": {"lr_actor": {"min": 1e-5, "max": 3e-4}, "lr_critic": {"min": 3e-4, "max": 3e-3},
                      "batch_size": {"min": 64, "max": 512, "dtype": "int"},
                      "learn_step": {"min": 4, "max": 16, "dtype": "int"}},
        "training": {"max_steps": 50_000, "evo_steps": 5_000, "eval_loop": 4, "learning_delay": 2_000,
                     "memory_size": 100_000, "stopping": {"conflict_free_streak": 3}},
    })
