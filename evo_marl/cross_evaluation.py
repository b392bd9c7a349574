"""Evaluate a trained member on envs it was not trained on (``evo-marl evaluate RUN_DIR --env FAMILY/*``).

    from evo_marl.cross_evaluation import cross_evaluate, format_table
    results = cross_evaluate("populations/my_run", ["family/*"], episodes=100)
    table = format_table(results)  # Markdown: one row per env and member

The member acts through a :class:`~evo_marl.algorithms.roles.RolePolicy`, so a member trained with
parameter sharing acts for any agent ids whose spaces match its groups (other scenarios of the family,
other numbers of agents); ``ensemble=`` lets the population's fittest members act together instead
(:class:`~evo_marl.algorithms.ensemble.EnsemblePolicy`: the mean of their continuous actions, the vote of
discrete ones); left unset, a run folder is evaluated as its config deploys it (``output.deploy``). Every
env gets ``episodes`` sub-envs and the first episode of each is scored, with the same episodes for every
member (same ``seed``). The env family decides which options of the training env carry over to its other
scenarios (``EnvFamily.transfer_options``), what an evaluation adds beyond mean metrics
(``evaluation_summary``) and which returns a scenario allows (``reference_returns``: an optimum where known
and a bound on the same episodes); ``env_kwargs`` adds or overrides options for every env.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.algorithms.ensemble import EnsemblePolicy, ranked_members
from evo_marl.algorithms.roles import RolePolicy
from evo_marl.envs import list_envs, make_vec_env
from evo_marl.envs.episodes import acting_greedily, run_episodes
from evo_marl.envs.registry import family_of
from evo_marl.errors import CheckpointError, ConfigError
from evo_marl.hpo.fitness import best_member
from evo_marl.run_folder import BEST_DIR, read_manifest, resolve_checkpoint, run_folder_of, trained_env_state


@dataclass
class EnvEvaluation:
    """One member on one env.

    Attributes:
        env_id / member: what was evaluated (``member`` is the member's index, or for an ensemble its label,
        e.g. ``ensemble of 4 (3, 1, 0, 2)``). episodes: episodes scored.
        mean_return / std_return: team return (sum over agents) over the episodes.
        metrics: mean of each env episode metric, plus the family's evaluation summary.
        optimum / bound: the family's reference returns for these episodes, where it has them.
        returns: per-episode team returns. episode_metrics: per-episode env metrics.
    """

    env_id: str
    member: int | str
    episodes: int
    mean_return: float
    std_return: float
    metrics: dict[str, float]
    optimum: float | None = None
    bound: float | None = None
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    episode_metrics: dict[str, np.ndarray] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """A flat record for tables and JSON."""
        return {"env": self.env_id, "member": self.member, "episodes": self.episodes, "return": self.mean_return,
                "return_std": self.std_return, "optimum": self.optimum, "bound": self.bound, **self.metrics}


def resolve_env_ids(patterns: Sequence[str] | str) -> list[str]:
    """Env ids from ids and globs (``family/*``, ``family/prefix_*``), in order, without repeats."""
    if isinstance(patterns, str):
        patterns = [patterns]
    out: list[str] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            family = pattern.split("/")[0] if "/" in pattern else ""
            known = list_envs(family if family and not any(c in family for c in "*?[") else None)
            matches = [e for e in known if fnmatch.fnmatchcase(e, pattern)]
            if not matches:
                raise ConfigError("env", pattern, f"matches no registered env id; valid ids are {list_envs()}")
            out += matches
        else:
            out.append(pattern)
    return list(dict.fromkeys(out))


@dataclass
class SavedRun:
    """A run folder's checkpoint, loaded: the run folder, the checkpoint folder, the run's config, the members
    and the manifest."""

    run_dir: Path
    checkpoint: Path
    config: Any
    population: list
    manifest: dict[str, Any]

    @property
    def fitness_window(self) -> int:
        """How many of a member's last evaluations its fitness averages in this run."""
        return int(self.manifest.get("fitness_window", 1))

    @property
    def best(self):
        """The best member by the run's fitness (over its fitness window)."""
        return best_member(self.population, self.fitness_window)

    @property
    def deploys_ensemble(self) -> bool:
        """Whether the run deploys its members acting together (``output.deploy: ensemble``); its ``best/``
        checkpoint holds one member, so not from there."""
        return _deploys_ensemble(self.checkpoint, self.config)

    def deployed_members(self, ensemble: bool | int | None = None) -> list:
        """The members that act for the run, fittest first: all of them where it deploys an ensemble, else its
        best member; ``ensemble`` chooses otherwise (``True`` all, ``k`` the ``k`` fittest, ``False`` the best).

        Raises:
            ConfigError: ``ensemble`` is a number outside 1 .. population size.
        """
        return _acting_members(self.population, self.best, self.deploys_ensemble if ensemble is None else ensemble,
                               self.fitness_window)


def check_single_members(ensemble: bool | int | None, all_members: bool = False, best: bool = False) -> None:
    """Raise when an ensemble is asked for together with single members (``all_members``, ``best``)."""
    if ensemble not in (None, False) and (all_members or best):
        raise ConfigError("ensemble", ensemble, "acts with the population's members together: it does not "
                          f"combine with {'all_members' if all_members else 'best'} (one member)")


def _acting_members(population: list, best: Any, ensemble: bool | int, window: int) -> list:
    """``[best]`` (``ensemble`` False), or the members acting together, fittest first (over ``window``)."""
    if ensemble is False:
        return [best]
    try:
        return ranked_members(population, None if ensemble is True else ensemble, window)
    except ConfigError as err:
        raise err.renamed("ensemble") from None


def _deploys_ensemble(checkpoint: Path, config: Any) -> bool:
    return checkpoint.name != BEST_DIR and config.output.deploy == "ensemble"


def deploys_ensemble(path: str | Path) -> bool:
    """:attr:`SavedRun.deploys_ensemble` of the run of ``path`` (a run folder or one of its checkpoint folders),
    reading only its config; nothing loadable there: False (loading it then says why)."""
    from evo_marl.experiment import CONFIG_FILE, load_run_config

    try:
        checkpoint = resolve_checkpoint(path)
    except CheckpointError:
        return False
    run_dir = run_folder_of(path, checkpoint)
    return (run_dir / CONFIG_FILE).exists() and _deploys_ensemble(checkpoint, load_run_config(run_dir))


def open_run(path: str | Path, best: bool = False) -> SavedRun:
    """A run folder's newest complete generation (a newest incomplete one is skipped with a warning); ``best``:
    its ``best/`` checkpoint (one member: the best ever evaluated). ``path`` may also be one checkpoint folder of
    a run (``<run>/generation_<g>``, e.g. one kept for looking back, or ``<run>/best``).

    Raises:
        CheckpointError: no loadable checkpoint (for a run of engine agilerl: where its population is).
    """
    from evo_marl.engines.agilerl import CHECKPOINT_DIR
    from evo_marl.experiment import load_run_config
    from evo_marl.training.checkpoint import load_population

    path = Path(path)
    try:
        checkpoint = resolve_checkpoint(path, best=best)
    except CheckpointError as err:
        if (path / CHECKPOINT_DIR).is_dir():
            raise CheckpointError(f"{err} (trained with engine agilerl: its population is in {CHECKPOINT_DIR}/ in "
                                  "AgileRL's format, <Algo>.load(path))") from err
        raise
    run_dir = run_folder_of(path, checkpoint)
    return SavedRun(run_dir, checkpoint, load_run_config(run_dir), load_population(checkpoint),
                    read_manifest(checkpoint))


def load_run(run_dir: str | Path, best: bool = False) -> tuple[list, Any, Any]:
    """``(population, config, best member)`` of a run folder's newest complete generation (best by the run's
    fitness); ``best``: of its ``best/`` checkpoint (one member: the best ever evaluated)."""
    run = open_run(run_dir, best)
    return run.population, run.config, run.best


def _options(env_id: str, train_id: str | None, train_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The training env's options that apply to ``env_id``."""
    if train_id is None or env_id == train_id:
        return dict(train_kwargs)
    family = family_of(env_id)
    if family.name != train_id.split("/")[0] or family.transfer_options is None:
        return {}
    return family.transfer_options(train_kwargs)


def cross_evaluate(source: str | Path | Sequence | Any, env_ids: Sequence[str] | str | None = None, episodes: int = 100,
                   seed: int = 12345, env_kwargs: dict[str, Any] | None = None, all_members: bool = False,
                   max_steps: int | None = None, references: bool = True, best: bool = False,
                   ensemble: bool | int | None = None) -> list[EnvEvaluation]:
    """Evaluate the best member (or every member, or an ensemble of members) of ``source`` on every env of
    ``env_ids``.

    Args:
        source: a run folder (its newest complete generation, its config and its fitness), a population (list
            of members; the best by last fitness) or one member.
        env_ids: env ids or globs (``"family/*"``); None: a run folder's own training env.
        episodes: episodes per env (one sub-env each). seed: reset seed (same episodes for every member).
        env_kwargs: options for every env, on top of those carried over from a run folder's training env.
        all_members: every member of the population, not just the best.
        max_steps: cap on the vector steps of an evaluation (None: until every first episode ends).
        references: also compute the family's reference returns (optimum, bound) of the episodes.
        best: with a run folder, its ``best/`` checkpoint: the best member ever evaluated, not the newest
            generation's (e.g. a run whose last generations got worse).
        ensemble: the population's members act together as one policy (one result per env): ``True`` every
            member, a number ``k`` the ``k`` fittest (by the run's fitness over its fitness window); ``False`` the
            best member alone; None (default): as the run deploys them (``output.deploy`` of a run folder's
            config: every member with ``ensemble``), else the best member; ``all_members`` and ``best`` mean
            single members.

    Returns:
        one :class:`EnvEvaluation` per env and member, envs in the order given.
    """
    population, chosen, train = _population(source, episodes, best)
    if env_ids is None:
        if train.id is None:
            raise ConfigError("env_ids", None, "are required unless the source is a run folder (its training env)")
        env_ids = [train.id]
    if ensemble is None:
        ensemble = train.deploys_ensemble and not all_members
    if ensemble is not False:
        check_single_members(ensemble, all_members=all_members, best=best)
        members = _acting_members(population, chosen, ensemble, train.fitness_window)
        return _evaluate([members], env_ids, episodes, seed, env_kwargs, max_steps, references, train)
    return _evaluate([[m] for m in (population if all_members else [chosen])], env_ids, episodes, seed, env_kwargs,
                     max_steps, references, train)


@dataclass(frozen=True)
class _TrainingEnv:
    """A run folder's training env: its id, options and saved state (e.g. where its curriculum stopped); and how
    the run ranks and deploys its members."""

    id: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    fitness_window: int = 1  # the run's ranking of its members (mean of their last evaluations)
    deploys_ensemble: bool = False  # output.deploy: ensemble


def _population(source: str | Path | Sequence | Any, episodes: int,
                best_ever: bool = False) -> tuple[list, Any, _TrainingEnv]:
    """``(population, best member, training env)`` of a source of :func:`cross_evaluate` (the training env
    only for a run folder; ``best_ever``: its ``best/`` checkpoint); checks ``episodes`` as well."""
    train = _TrainingEnv()
    if isinstance(source, (str, Path)):
        run = open_run(source, best_ever)
        population, best = run.population, run.best
        train = _TrainingEnv(run.config.env.id, dict(run.config.env.kwargs), trained_env_state(run.manifest),
                             run.fitness_window, run.deploys_ensemble)
    elif best_ever:
        raise ConfigError("best", True, "needs a run folder as source (its best/ checkpoint)")
    else:
        population = list(source) if isinstance(source, (list, tuple)) else [source]
        best = best_member(population) if population else None
    if not population:
        raise ConfigError("source", source, "holds no members")
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise ConfigError("episodes", episodes, "must be an integer >= 1")
    return population, best, train


def _evaluate(actors: list[list], env_ids: Sequence[str] | str, episodes: int, seed: int,
              env_kwargs: dict[str, Any] | None, max_steps: int | None, references: bool,
              train: _TrainingEnv) -> list[EnvEvaluation]:
    """Every actor of ``actors`` (one member, or several acting as an ensemble) on every env of ``env_ids`` (see
    :func:`cross_evaluate`)."""
    results = []
    for env_id in resolve_env_ids(env_ids):
        kwargs = {**_options(env_id, train.id, train.kwargs), **(env_kwargs or {})}
        env = make_vec_env(env_id, num_envs=episodes, seed=seed, **kwargs).for_evaluation()
        if env_id == train.id and kwargs == train.kwargs:  # the run's own env: where its training stopped
            env.load_state_dict(train.state)
        family = family_of(env_id)
        optimum = bound = None
        if references and family.reference_returns is not None:
            optimum, bound = family.reference_returns(env_id.split("/", 1)[1], episodes, seed, kwargs)
        summarise = family.evaluation_summary or (lambda metrics: {})
        for members in actors:
            policy = EnsemblePolicy(members, env) if len(members) > 1 else RolePolicy(members[0], env)
            with acting_greedily(members):
                res = run_episodes(policy, env, max_steps=max_steps, seed=seed)
            results.append(EnvEvaluation(
                env_id, policy.label if len(members) > 1 else members[0].index, episodes, float(np.mean(res.returns)),
                float(np.std(res.returns)), {**res.mean_metrics(), **summarise(res.metrics)}, optimum, bound,
                res.returns, res.metrics))
    return results


def choose_member(source: str | Path | Sequence, env_ids: Sequence[str] | str, metric: str = "return",
                  lower_is_better: bool = False, episodes: int = 100, seed: int = 54321,
                  env_kwargs: dict[str, Any] | None = None, max_steps: int | None = None,
                  generations: int = 1) -> tuple[Any, dict]:
    """The member of ``source`` (a run folder or a population) with the best mean ``metric`` over ``env_ids``.

    Every member plays the same validation episodes; give them a ``seed`` of their own, apart from those of
    a final evaluation. ``metric`` is ``"return"`` (mean team return) or a key of :attr:`EnvEvaluation.metrics`
    (a family's evaluation metric, e.g. a failure rate with ``lower_is_better=True``); ties go to the higher
    mean return. ``generations``: with a run folder, the candidates are the members of its last
    ``generations`` complete generation folders (as many as the run kept: 3 by default), not only the newest
    one — the same member a few generations earlier may generalise better than it does now.

    Returns:
        the chosen member and every candidate's score, by member index (by ``(generation, member index)``
        when ``generations > 1``).
    """
    population, _, train = _population(source, episodes)
    keys: list = [m.index for m in population]
    if generations != 1:
        population, keys = recent_members(source, generations)
    results = _evaluate([[m] for m in population], env_ids, episodes, seed, env_kwargs, max_steps, False, train)
    scores: dict[Any, list[float]] = {}
    returns: dict[Any, list[float]] = {}
    for position, r in enumerate(results):  # env-major: every candidate on the first env, then the next env
        if metric != "return" and metric not in r.metrics:
            raise ConfigError("metric", metric, f"is not a metric of {r.env_id}: one of {['return', *sorted(r.metrics)]}")
        key = keys[position % len(population)]
        scores.setdefault(key, []).append(r.mean_return if metric == "return" else r.metrics[metric])
        returns.setdefault(key, []).append(r.mean_return)
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    sign = 1.0 if lower_is_better else -1.0
    best = min(mean, key=lambda k: (sign * mean[k], -float(np.mean(returns[k]))))
    return population[keys.index(best)], mean


def recent_members(source: Any, generations: int) -> tuple[list, list[tuple[int, int]]]:
    """The members of the last ``generations`` complete generation folders of run folder ``source`` (as many as
    the run kept), oldest first, and their ``(generation, member index)`` keys: candidates of
    :func:`choose_member`, or a snapshot ensemble (``cross_evaluate(members, ..., ensemble=True)``)."""
    from evo_marl.run_folder import complete_generations
    from evo_marl.training.checkpoint import load_population

    if not isinstance(generations, int) or isinstance(generations, bool) or generations < 1:
        raise ConfigError("generations", generations, "must be an integer >= 1")
    if not isinstance(source, (str, Path)):
        raise ConfigError("generations", generations, "needs a run folder as source (a population has one generation)")
    members, keys = [], []
    for folder in complete_generations(source)[-generations:]:
        generation = int(read_manifest(folder)["generation"])
        for member in load_population(folder):
            members.append(member)
            keys.append((generation, member.index))
    return members, keys


def format_table(results: Sequence[EnvEvaluation], columns: Sequence[str] | None = None) -> str:
    """A Markdown table: return, optimum / bound, then ``columns`` of ``metrics`` (default: the families'
    summary metrics, then the mean of every episode metric)."""
    if columns is None:
        summary = [k for r in results for k in r.metrics if k not in r.episode_metrics]
        columns = list(dict.fromkeys(summary + [k for r in results for k in r.metrics]))
    head = "| env | member | episodes | return | optimum / bound |" + "".join(f" {k} |" for k in columns)
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        ref = " / ".join("-" if v is None else f"{v:.1f}" for v in (r.optimum, r.bound))
        cells = "".join(f" {r.metrics.get(k, math.nan):.4g} |" for k in columns)
        lines.append(f"| {r.env_id} | {r.member} | {r.episodes} | {r.mean_return:.2f} ± {r.std_return:.2f} | {ref} |"
                     + cells)
    return "\n".join(lines)
