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
    selection: {strategy: tournament, tournament_size: 2, elitism: true}   # or multi_frequency, ttest, none
    training: {max_steps: 50000, evo_steps: 5000, eval_loop: 4, stopping: {target: 20.0}, backend: local}
    device: cpu                       # or cuda: buffer, networks and optimizer state on the GPU
    ray: {address: auto, num_workers: 8}   # used with training.backend: ray (docs/scaling.md)
    engine: evo-marl                  # or agilerl: the same experiment through AgileRL's trainer (docs/interop.md)

:meth:`ExperimentConfig.hyperparameters` turns ``init_hp`` into the algorithm's typed hyperparameters
(the one conversion of AgileRL-style keys); every check runs when the file is loaded, before training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml

from evo_marl import validation
from evo_marl.algorithms.net_config import AGILERL_KEYS, MLP_KEYS, SECTION_KEYS, parse_net_config
from evo_marl.algorithms.registry import HP_INIT_MODES, algorithm_settings, get_algorithm
from evo_marl.distributed.backend import BACKENDS, RayBackend
from evo_marl.engines import DEFAULT_ENGINE, check_engine
from evo_marl.errors import ConfigError
from evo_marl.hpo.fitness import RETURN, check_fitness_metric
from evo_marl.hpo.multi_frequency import MultiFrequencyPBT
from evo_marl.hpo.parameters import HyperparameterConfig
from evo_marl.hpo.ttest import TTestSelection
from evo_marl.league.config import LeagueConfig
from evo_marl.population.precision import check_precision

SELECTION_STRATEGIES = ("tournament", "multi_frequency", "ttest", "none")
MULTI_FREQUENCY_OPTIONS = ("frequencies", "winners", "open_for_migration", "losers")
TTEST_OPTIONS = ("significance", "ttest_window")
DEFAULT_EXPERIMENT = Path(__file__).with_name("default_experiment.yaml")
NET_CONFIG_KEYS = MLP_KEYS | set(AGILERL_KEYS) | SECTION_KEYS


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
        for key, value in self.kwargs.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ConfigError(f"env.kwargs.{key}", value, "option names must be identifiers (strings)")
            if key in ("num_envs", "seed"):
                owner = "env.num_envs" if key == "num_envs" else "seed"
                raise ConfigError(f"env.kwargs.{key}", value, f"is set by {owner}; remove it from env.kwargs")

    @contextlib.contextmanager
    def naming_options(self) -> Iterator[None]:
        """Re-raise an env's ConfigError about one of its options under the option's place in the config
        (``buffer_nm=-1`` becomes ``env.kwargs.reward.buffer_nm=-1``)."""
        try:
            yield
        except ConfigError as err:
            path = validation.option_path(self.kwargs, err.field, err.value)
            if path is None:
                raise
            raise err.renamed(f"env.kwargs{path}") from None


@dataclass
class SelectionConfig:
    """How the next generation is chosen (``strategy``) and that strategy's options.

    * ``tournament``: tournament selection with elitism (``tournament_size``, ``elitism``).
    * ``multi_frequency``: multiple-frequency PBT (:class:`~evo_marl.hpo.MultiFrequencyPBT`): sub-population
      ``i`` evolves every ``frequencies[i]`` generations (default ``[1, 5]``), with migration between them;
      ``winners`` / ``open_for_migration`` / ``losers`` size its brackets (default: a quarter each).
    * ``ttest``: PBT's t-test selection (:class:`~evo_marl.hpo.TTestSelection`, Jaderberg et al. 2017): each member
      meets a random opponent and is replaced by its clone only when the opponent's last ``ttest_window``
      evaluations (default 4) are significantly higher (one-sided Welch's t-test at level ``significance``,
      default 0.05); the others stay as they are.
    * ``none``: no selection and no mutation: members train independently, as in random search.

    ``burn_in_steps`` (tournament, multi_frequency and ttest): no selection or mutation until every member has trained
    that many env steps, so slow starters are not culled on their first evaluations (0: select from the first
    generation on; with ``none`` it changes nothing, as no member is ever selected).
    """

    strategy: str = "tournament"
    tournament_size: int = 2
    elitism: bool = True
    frequencies: list[int] | None = None
    winners: int | None = None
    open_for_migration: int | None = None
    losers: int | None = None
    significance: float | None = None
    ttest_window: int | None = None
    burn_in_steps: int = 0

    def __post_init__(self) -> None:
        validation.one_of("selection.strategy", self.strategy, SELECTION_STRATEGIES)
        _positive("selection.tournament_size", self.tournament_size)
        validation.number("selection.burn_in_steps", self.burn_in_steps, 0, integer=True)
        for strategy, options in (("multi_frequency", MULTI_FREQUENCY_OPTIONS), ("ttest", TTEST_OPTIONS)):
            for name in options:
                if self.strategy != strategy and getattr(self, name) is not None:
                    raise ConfigError(f"selection.{name}", getattr(self, name),
                                      f"applies to strategy {strategy} only, not {self.strategy}")

    def multi_frequency_options(self) -> dict[str, Any]:
        """The ``multi_frequency`` options that are set, as keyword arguments of MultiFrequencyPBT."""
        return {name: getattr(self, name) for name in MULTI_FREQUENCY_OPTIONS if getattr(self, name) is not None}

    def ttest_options(self) -> dict[str, Any]:
        """The ``ttest`` options that are set, as keyword arguments of TTestSelection."""
        names = {"significance": "significance", "ttest_window": "window"}
        return {names[name]: getattr(self, name) for name in TTEST_OPTIONS if getattr(self, name) is not None}


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
    with like); ``fitness_window``: a member's fitness is the mean of its last N evaluations;
    ``fitness_metric``: what an evaluation scores, ``return`` (mean team return) or an episode metric of the env
    (``clean``; ``-episode_length`` to minimise one).
    ``learning_delay`` and ``memory_size`` apply to off-policy algorithms only (defaults 1,000 and 100,000).
    ``batched_learning`` (default true): members act and learn as stacks (``docs/performance.md``); false: one
    member after another. ``stack_grouping``: ``auto`` (default), ``pad`` or ``shape``: how differing
    architectures stack. ``precision``: of batched learning, ``float32`` (default) or ``bfloat16`` (the hidden
    layers' products in bfloat16; ``docs/performance.md``).
    ``backend``: ``local`` (one process) or ``ray`` (the population split over Ray workers, see ``ray:``).
    """

    max_steps: int = 50_000
    evo_steps: int = 5_000
    eval_steps: int | None = None
    eval_loop: int = 4
    eval_set: str = "fresh"
    fitness_window: int = 1
    fitness_metric: str = RETURN
    learning_delay: int | None = None
    memory_size: int | None = None
    threads: int = 1
    batched_learning: bool = True
    stack_grouping: str = "auto"
    precision: str = "float32"
    backend: str = "local"
    stopping: StoppingConfig = field(default_factory=StoppingConfig)

    def __post_init__(self) -> None:
        validation.flag("training.batched_learning", self.batched_learning)
        validation.one_of("training.stack_grouping", self.stack_grouping, ("pad", "shape", "auto"))
        check_precision("training.precision", self.precision, self.batched_learning, "training.batched_learning: true")
        for name in ("max_steps", "evo_steps", "eval_loop", "fitness_window", "threads"):
            _positive(f"training.{name}", getattr(self, name))
        if self.evo_steps > self.max_steps:
            raise ConfigError("training.evo_steps", self.evo_steps,
                              f"must be <= training.max_steps ({self.max_steps}): one generation cannot exceed the budget")
        if self.eval_steps is not None:
            _positive("training.eval_steps", self.eval_steps)
        validation.one_of("training.eval_set", self.eval_set, ("fresh", "fixed"))
        check_fitness_metric("training.fitness_metric", self.fitness_metric)
        validation.one_of("training.backend", self.backend, BACKENDS)
        if self.memory_size is not None:
            _positive("training.memory_size", self.memory_size)
        if self.learning_delay is not None:
            validation.number("training.learning_delay", self.learning_delay, 0, integer=True)


DEPLOYMENTS = ("best", "ensemble")  # OutputConfig.deploy


@dataclass
class OutputConfig:
    """Where runs go: ``<root>/<name>/``. ``keep_checkpoints``: the newest N generation folders are kept
    (``all``: every one; the best member ever evaluated is kept in ``best/`` regardless); ``keep_every``: also
    those of every generation that is a multiple of it (to evaluate the run at earlier budgets). ``deploy``: what
    ``evo-marl evaluate RUN_DIR`` flies when no member is named: ``best`` (the newest generation's best member) or
    ``ensemble`` (its members acting together, :class:`~evo_marl.algorithms.ensemble.EnsemblePolicy`)."""

    root: str = "populations"
    checkpoint: bool = True
    keep_checkpoints: int | str | None = 3
    keep_every: int | None = None
    save_buffer: bool = True
    plots: bool = True
    deploy: str = "best"

    def __post_init__(self) -> None:
        if self.keep_checkpoints in ("all", None):
            self.keep_checkpoints = None
        elif isinstance(self.keep_checkpoints, str) or self.keep_checkpoints < 1:
            raise ConfigError("output.keep_checkpoints", self.keep_checkpoints,
                              "must be an integer >= 1 (the newest N generation folders) or 'all'")
        if self.keep_every is not None:
            _positive("output.keep_every", self.keep_every)
        if not self.root:
            raise ConfigError("output.root", self.root, "must be a folder path")
        validation.one_of("output.deploy", self.deploy, DEPLOYMENTS)


@dataclass
class TrackingConfig:
    """Optional metric backends (CSV is always written): W&B, TensorBoard and MLflow."""

    wandb: bool = False
    tensorboard: bool = False
    wandb_kwargs: dict[str, Any] = field(default_factory=lambda: {"project": "evo-marl", "mode": "offline"})
    mlflow: bool = False
    mlflow_kwargs: dict[str, Any] = field(default_factory=dict)  # MLflowWriter options: tracking_uri, experiment_name, ...


DEVICE_TYPES = ("cpu", "cuda")


def check_device(field_name: str, value: Any) -> str:
    """A torch device string of a supported type (``cpu``, ``cuda``, ``cuda:1``); availability is checked at run
    time, so a config written for a GPU machine still loads elsewhere."""
    import torch

    try:
        kind = torch.device(value).type if isinstance(value, str) else None
    except RuntimeError:
        kind = None
    if kind not in DEVICE_TYPES:
        raise ConfigError(field_name, value, "must be a torch device: 'cpu', 'cuda' or 'cuda:<index>'")
    return value


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
    league: LeagueConfig | None = None  # population play (evo_marl.league, docs/league.md); None: homogeneous teams
    device: str = "cpu"
    engine: str = DEFAULT_ENGINE  # "evo-marl", or "agilerl": AgileRL's own trainer (evo_marl/engines/agilerl.py)
    ray: RayBackend = field(default_factory=RayBackend)

    def __post_init__(self) -> None:
        _positive("population_size", self.population_size)
        check_device("device", self.device)
        self.engine = check_engine(self.engine)
        if self.engine == "agilerl" and self.training.backend != "local":
            raise ConfigError("training.backend", self.training.backend, "must be local with engine: agilerl "
                                                                        "(AgileRL's trainer runs in one process)")
        if self.engine == "agilerl" and self.selection.strategy in ("multi_frequency", "ttest"):
            raise ConfigError("selection.strategy", self.selection.strategy, "is not available with engine: agilerl "
                                                                       "(AgileRL's trainer selects by tournament)")
        if self.engine == "agilerl" and self.selection.burn_in_steps:
            raise ConfigError("selection.burn_in_steps", self.selection.burn_in_steps,
                              "must be 0 with engine: agilerl (AgileRL's trainer has no burn-in)")
        if self.training.backend == "ray" and self.ray.num_workers > self.population_size:
            raise ConfigError("ray.num_workers", self.ray.num_workers,
                              f"must be <= population_size ({self.population_size}): every worker owns a member")
        if self.training.backend == "ray" and self.league is not None:
            raise ConfigError("training.backend", "ray", "does not run league (population play) experiments yet; "
                                                         "use backend: local with league")
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
        if self.selection.strategy == "multi_frequency":  # the layout must fit the population
            try:
                MultiFrequencyPBT(self.population_size, **self.selection.multi_frequency_options())
            except ConfigError as err:
                where = err.field if err.field == "population_size" else f"selection.{err.field}"
                raise err.renamed(where) from None
        if self.selection.strategy == "ttest":
            try:
                TTestSelection(self.population_size, **self.selection.ttest_options())
            except ConfigError as err:
                where = {"window": "ttest_window"}.get(err.field, err.field)
                raise err.renamed(f"selection.{where}") from None
        on_policy = get_algorithm(self.algo).on_policy
        for name, default in (("learning_delay", 1_000), ("memory_size", 100_000)):
            value = getattr(self.training, name)
            if on_policy and value is not None:
                raise ConfigError(f"training.{name}", value, f"applies to off-policy algorithms only, not {self.algo} "
                                  "(it learns from its own rollouts); remove it")
            if not on_policy and value is None:
                setattr(self.training, name, default)
        hp, _ = self.hyperparameters()
        space = self.search_space()
        space = get_algorithm(self.algo).default_hp_config() if space is None else space
        if not on_policy and hp.batch_size > self.training.memory_size:
            raise ConfigError("init_hp.BATCH_SIZE", hp.batch_size,
                              f"must be <= training.memory_size ({self.training.memory_size}) or no member ever learns")
        if not on_policy and "batch_size" in space and space["batch_size"].max > self.training.memory_size:
            which = "" if self.hp_ranges is not None else f"(the {self.algo} default range) "
            raise ConfigError("hp_ranges.batch_size.max", space["batch_size"].max,
                              f"{which}must be <= training.memory_size ({self.training.memory_size}): a mutated member "
                              "with a larger batch would never learn (lower the range or raise memory_size)")
        if set(self.net_config) <= NET_CONFIG_KEYS:  # one config for every agent: check it now (per-agent: at build)
            parse_net_config(self.net_config, ["agent"])

    def hyperparameters(self) -> tuple[Any, dict[str, Any]]:
        """The algorithm's typed hyperparameters and constructor options from ``init_hp``."""
        return algorithm_settings(self.algo, self.init_hp, where="init_hp")

    def search_space(self) -> HyperparameterConfig | None:
        """The ``hp_ranges`` as a :class:`HyperparameterConfig` (None: the algorithm's default), checked
        against the algorithm's numeric hyperparameters."""
        if self.hp_ranges is None:
            return None
        try:
            space = HyperparameterConfig.from_dict(self.hp_ranges)
        except ConfigError as err:  # its fields are named hp_config.<name>... in the Python API
            field = err.field.replace("hp_config", "hp_ranges", 1) if err.field.startswith("hp_config") else \
                f"hp_ranges.{err.field}"
            raise err.renamed(field) from None
        hyperparameters = get_algorithm(self.algo).Hyperparameters
        validation.no_unknown("hp_ranges", self.hp_ranges, hyperparameters.numeric_names(),
                              what=f"numeric hyperparameter of {self.algo}")
        for name in space.names():
            hyperparameters.check_search_range(name, space[name].min, space[name].max, f"hp_ranges.{name}")
        return space

    @property
    def backend(self) -> RayBackend | None:
        """The ``backend=`` of the trainer: None (local) or the ``ray:`` settings."""
        return self.ray if self.training.backend == "ray" else None

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
    """An :class:`ExperimentConfig` from a YAML file (or a dict), with ``key.sub=value`` overrides applied.

    A file may start from another with ``extends: other.yaml`` (relative to its folder; chains allowed): the
    other file's fields, with this file's merged on top (mappings key by key, lists and values replaced). A file
    that names another ``algo`` than its base starts without the base's ``init_hp`` and ``hp_ranges``.
    """
    if isinstance(source, dict):
        data = dict(source)
    elif not isinstance(source, (str, Path)):
        raise ConfigError("config", source, "must be a YAML file path or a mapping of fields")
    else:
        path = Path(source)
        data = read_config_file(path, "config")
        data.setdefault("name", path.stem)
    for item in overrides or []:
        apply_override(data, item)
    return from_dict(ExperimentConfig, data)


def read_config_file(path: Path, field_name: str = "config", chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's mapping with its ``extends:`` chain resolved (base first, this file's fields on top)."""
    if not path.exists():
        raise ConfigError(field_name, str(path), "file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(field_name, str(path), f"is not valid YAML ({err})") from err
    except UnicodeDecodeError as err:
        raise ConfigError(field_name, str(path), f"is not UTF-8 text (byte {err.start}: {err.reason})") from err
    if not isinstance(data, dict):
        raise ConfigError(field_name, str(path), f"must hold a mapping of fields at the top level (name: ..., "
                          f"env: ..., ...), found a {type(data).__name__}")
    if "extends" not in data:
        return data
    base = data.pop("extends")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path.name}: extends", base, "must name a config file (e.g. atc_matd3.yaml), "
                          "relative to this file's folder")
    base_path = (path.parent / base).resolve()
    if not base_path.exists() and base_path.suffix not in (".yaml", ".yml"):
        base_path = base_path.with_suffix(".yaml")
    if base_path in chain or base_path == path.resolve():
        raise ConfigError(f"{path.name}: extends", base, "forms a cycle of configs extending each other")
    merged = read_config_file(base_path, f"{path.name}: extends", (*chain, path.resolve()))
    merged.pop("name", None)  # a config is named after its own file unless it sets a name
    if "algo" in data and _algorithm_name(data["algo"]) != _algorithm_name(merged.get("algo", ExperimentConfig.algo)):
        for key in ALGORITHM_BOUND_FIELDS:  # another algorithm's hyperparameters do not carry over
            merged.pop(key, None)
    return deep_merge(merged, data)


ALGORITHM_BOUND_FIELDS = ("init_hp", "hp_ranges")
"""Fields an ``extends:`` config does not inherit when it names another ``algo`` than its base."""


def _algorithm_name(value: Any) -> str:
    """The registered name of algorithm ``value`` (aliases resolved), or the value as written if it is unknown."""
    try:
        return get_algorithm(value).algo_name
    except ConfigError:
        return str(value)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``top``'s fields on top: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in top.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


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
