"""Typed experiment configuration, loaded from YAML with errors that name the field, the value and the rule.

A config file mirrors :class:`ExperimentConfig`; every section and field is optional::

    name: my_experiment
    seed: 0
    algo: MATD3                       # any registered algorithm (evo_marl.algorithms.algorithm_names())
    population_size: 4
    hp_init: fixed                    # or sampled: each member's hyperparameters drawn from hp_ranges
    env: {id: family/scenario, num_envs: 8}   # `evo-marl scenarios` lists the ids
    net_config: {hidden_size: [64, 64], activation: ReLU}
    init_hp: {BATCH_SIZE: 128, LR_ACTOR: 0.001}   # AgileRL keys or the algorithm's field names
    hp_ranges: {lr_actor: {min: 1.0e-5, max: 1.0e-2, scale: log}}   # the search space (default: the algorithm's)
    selection: {strategy: tournament, tournament_size: 2, elitism: true}
    training: {max_steps: 50000, evo_steps: 5000, eval_loop: 4, stopping: {target: 20.0}}
    engine: evo-marl                  # or agilerl: the same experiment through AgileRL's trainer (docs/interop.md)

:meth:`ExperimentConfig.hyperparameters` turns ``init_hp`` into the algorithm's typed hyperparameters
(the one conversion of AgileRL-style keys); every check runs when the file is loaded, before training.
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

from evo_marl import validation
from evo_marl.algorithms.registry import HP_INIT_MODES, algorithm_settings, get_algorithm
from evo_marl.engines import DEFAULT_ENGINE, check_engine
from evo_marl.errors import ConfigError
from evo_marl.hpo.parameters import HyperparameterConfig

SELECTION_STRATEGIES = ("tournament", "none")
DEFAULT_EXPERIMENT = Path(__file__).with_name("default_experiment.yaml")


@dataclass
class EnvConfig:
    """Which env to train on. ``id`` is a registered id (``family/scenario``, see ``evo-marl scenarios``);
    ``num_envs`` is per member; ``kwargs`` are the scenario's options."""

    id: str = ""
    num_envs: int = 8
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive("env.num_envs", self.num_envs)
        if self.id != "" and (not isinstance(self.id, str) or "/" not in self.id):
            raise ConfigError("env.id", self.id, "must look like 'family/scenario' (see `evo-marl scenarios`)")


@dataclass
class SelectionConfig:
    """How the next generation is chosen: ``tournament`` (with elitism) or ``none`` (no selection and no
    mutation: members train independently, as in random search)."""

    strategy: str = "tournament"
    tournament_size: int = 2
    elitism: bool = True

    def __post_init__(self) -> None:
        validation.one_of("selection.strategy", self.strategy, SELECTION_STRATEGIES)
        _positive("selection.tournament_size", self.tournament_size)


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
    """Early stopping: ``target`` (best fitness), ``convergence`` (window/patience), and ``criteria``
    contributed by the env family, by name (``{name: 3}`` for one argument or ``{name: {arg: value}}``)."""

    target: float | None = None
    convergence_target: float | None = None
    convergence_window: int = 5
    convergence_patience: int = 3
    criteria: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive("training.stopping.convergence_window", self.convergence_window)
        _positive("training.stopping.convergence_patience", self.convergence_patience)


@dataclass
class TrainingConfig:
    """Budget, evaluation and fitness. Steps are environment steps per member.

    ``eval_loop`` evaluation episodes per member and generation; ``eval_set`` ``fresh`` (new episodes every
    generation) or ``fixed`` (the same validation episodes every generation: stochastic envs compare like
    with like); ``fitness_window``: a member's fitness is the mean of its last N evaluations.
    ``learning_delay`` and ``memory_size`` apply to off-policy algorithms only (defaults 1,000 and 100,000).
    """

    max_steps: int = 50_000
    evo_steps: int = 5_000
    eval_steps: int | None = None
    eval_loop: int = 4
    eval_set: str = "fresh"
    fitness_window: int = 1
    learning_delay: int | None = None
    memory_size: int | None = None
    threads: int = 1
    stopping: StoppingConfig = field(default_factory=StoppingConfig)

    def __post_init__(self) -> None:
        for name in ("max_steps", "evo_steps", "eval_loop", "fitness_window", "threads"):
            _positive(f"training.{name}", getattr(self, name))
        if self.evo_steps > self.max_steps:
            raise ConfigError("training.evo_steps", self.evo_steps,
                              f"must be <= training.max_steps ({self.max_steps}): one generation cannot exceed the budget")
        if self.eval_steps is not None:
            _positive("training.eval_steps", self.eval_steps)
        validation.one_of("training.eval_set", self.eval_set, ("fresh", "fixed"))
        if self.memory_size is not None:
            _positive("training.memory_size", self.memory_size)
        if self.learning_delay is not None:
            validation.number("training.learning_delay", self.learning_delay, 0, integer=True)


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
    hp_init: str = "fixed"
    env: EnvConfig = field(default_factory=EnvConfig)
    net_config: dict[str, Any] = field(default_factory=lambda: {"hidden_size": [64, 64]})
    init_hp: dict[str, Any] = field(default_factory=dict)
    hp_ranges: dict[str, dict[str, Any]] | None = None
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    mutation: MutationConfig = field(default_factory=MutationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    engine: str = DEFAULT_ENGINE  # "evo-marl", or "agilerl": AgileRL's own trainer (evo_marl/engines/agilerl.py)

    def __post_init__(self) -> None:
        _positive("population_size", self.population_size)
        self.engine = check_engine(self.engine)
        self.algo = get_algorithm(self.algo).algo_name
        if not self.env.id:
            raise ConfigError("env.id", None, "is required: a registered env id such as 'family/scenario' "
                              "(see `evo-marl scenarios`)")
        validation.one_of("hp_init", self.hp_init, HP_INIT_MODES)
        if self.seed is not None:
            validation.number("seed", self.seed, 0, integer=True, optional=True)
        if not self.name or any(c in self.name for c in "/\\") or self.name in (".", ".."):
            raise ConfigError("name", self.name, "must be a non-empty run name without '/', '\\' and not '.' or '..'")
        if self.selection.strategy == "tournament" and self.selection.tournament_size > self.population_size:
            raise ConfigError("selection.tournament_size", self.selection.tournament_size,
                              f"must be <= population_size ({self.population_size})")
        on_policy = get_algorithm(self.algo).on_policy
        for name, default in (("learning_delay", 1_000), ("memory_size", 100_000)):
            value = getattr(self.training, name)
            if on_policy and value is not None:
                raise ConfigError(f"training.{name}", value, f"applies to off-policy algorithms only, not {self.algo} "
                                  "(it learns from its own rollouts); remove it")
            if not on_policy and value is None:
                setattr(self.training, name, default)
        hp, _ = self.hyperparameters()
        self.search_space()
        if not on_policy and hp.batch_size > self.training.memory_size:
            raise ConfigError("init_hp.BATCH_SIZE", hp.batch_size,
                              f"must be <= training.memory_size ({self.training.memory_size}) or no member ever learns")

    def hyperparameters(self) -> tuple[Any, dict[str, Any]]:
        """The algorithm's typed hyperparameters and constructor options from ``init_hp``."""
        return algorithm_settings(self.algo, self.init_hp, where="init_hp")

    def search_space(self) -> HyperparameterConfig | None:
        """The ``hp_ranges`` as a :class:`HyperparameterConfig` (None: the algorithm's default), checked
        against the algorithm's numeric hyperparameters."""
        if self.hp_ranges is None:
            return None
        space = HyperparameterConfig.from_dict(self.hp_ranges)
        validation.no_unknown("hp_ranges", self.hp_ranges, get_algorithm(self.algo).Hyperparameters.numeric_names(),
                              what=f"numeric hyperparameter of {self.algo}")
        return space

    @property
    def run_dir(self) -> Path:
        return Path(self.output.root) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _positive(name: str, value: Any) -> None:
    validation.positive_int(name, value)


def _check_type(path: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a simple type hint (int, float, str, bool, list, dict, Optional, nested dataclass)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
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
    """The experiment ``evo-marl train`` runs with no config (``evo_marl/default_experiment.yaml``)."""
    return load_config(yaml.safe_load(DEFAULT_EXPERIMENT.read_text()))
