"""Evaluate a trained member on envs it was not trained on (``evo-marl evaluate RUN_DIR --env atc/*``).

    from evo_marl.cross_evaluation import cross_evaluate, format_table
    results = cross_evaluate("populations/my_run", ["atc/*"], episodes=100)
    print(format_table(results))

The member acts through a :class:`~evo_marl.algorithms.roles.RolePolicy`, so a member trained with
parameter sharing acts for any agent ids whose spaces match its groups (any ATC scenario, any number
of aircraft). Every env gets ``episodes`` sub-envs and the first episode of each is scored, with the
same episodes for every member (same ``seed``). The training env's options carry over where the env
family says they do (ATC: observation, reward and dynamics settings, not traffic options); ``env_kwargs``
adds or overrides options for every env. ATC envs also report LoS risk, LoS events per flight hour,
waypoint fraction, clean episodes and the return next to the scenario's optimum and its straight-flight
bound (:mod:`evo_marl.envs.atc.evaluation`).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.algorithms.roles import RolePolicy
from evo_marl.envs import list_envs, make_vec_env
from evo_marl.errors import CheckpointError, ConfigError
from evo_marl.training.evaluation import run_episodes


@dataclass
class EnvEvaluation:
    """One member on one env.

    Attributes:
        env_id / member: what was evaluated. episodes: episodes scored.
        mean_return / std_return: team return (sum over agents) over the episodes.
        metrics: mean of each env episode metric, plus the family's summary (ATC: ``los_risk``, ...).
        reference / reference_kind: the env's optimum (``"optimum"``) or mean straight-flight bound
            (``"bound"``) where known, else None.
        returns: per-episode team returns. episode_metrics: per-episode env metrics.
    """

    env_id: str
    member: int
    episodes: int
    mean_return: float
    std_return: float
    metrics: dict[str, float]
    reference: float | None = None
    reference_kind: str = ""
    bound: float | None = None
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    episode_metrics: dict[str, np.ndarray] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """A flat record for tables and JSON."""
        return {"env": self.env_id, "member": self.member, "episodes": self.episodes,
                "return": self.mean_return, "return_std": self.std_return, "optimum": self.reference,
                "bound": self.bound, **self.metrics}


def resolve_env_ids(patterns: Sequence[str]) -> list[str]:
    """Env ids from ids and globs (``atc/*``, ``atc/merge_*``), in order, without repeats."""
    if isinstance(patterns, str):
        patterns = [patterns]
    out: list[str] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            family = pattern.split("/")[0]
            matches = [e for e in list_envs(family if "/" in pattern and not any(c in family for c in "*?[") else None)
                       if fnmatch.fnmatchcase(e, pattern)]
            if not matches:
                raise ConfigError("env", pattern, f"matches no registered env id; valid ids are {list_envs()}")
            out += matches
        else:
            out.append(pattern)
    return list(dict.fromkeys(out))


def load_run(run_dir: str | Path) -> tuple[list, Any]:
    """The newest generation's population of a run folder and the run's config."""
    from evo_marl.config import load_config
    from evo_marl.experiment import CONFIG_FILE
    from evo_marl.training.checkpoint import latest_generation, load_population

    run_dir = Path(run_dir)
    generation = latest_generation(run_dir)
    if generation is None:
        raise CheckpointError(f"{run_dir}: no generation_<g> checkpoint folder found")
    config_path = run_dir / CONFIG_FILE
    if not config_path.exists():
        raise CheckpointError(f"{config_path}: missing; cannot tell which env options the run trained with")
    return load_population(generation), load_config(config_path)


def best_member(population: Sequence) -> Any:
    """The member with the highest last fitness (NaN counts as worst)."""
    def key(m):
        f = m.fitness[-1] if m.fitness else -math.inf
        return f if math.isfinite(f) else -math.inf
    return max(population, key=key)


def _family_kwargs(env_id: str, train_id: str | None, train_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The training env's options that apply to ``env_id``."""
    if env_id == train_id:
        return dict(train_kwargs)
    if env_id.split("/")[0] == "atc" and (train_id or "").startswith("atc/"):
        from evo_marl.envs.atc.evaluation import transfer_kwargs

        return transfer_kwargs(train_kwargs)
    return {}


def _atc_reference(env_id: str, kwargs: dict[str, Any], episodes: int, seed: int,
                   with_bound: bool) -> tuple[float | None, str, float | None]:
    """The spec's optimum and the mean straight-flight bound of an ATC env's episodes."""
    from evo_marl.envs.atc import evaluation as atc_eval

    scenario = env_id.split("/", 1)[1]
    reference, kind = atc_eval.reference_return(scenario)
    bound = float(np.mean(atc_eval.straight_flight_bound(scenario, episodes, seed, **kwargs))) if with_bound else None
    return reference, kind, bound


def _summary(env_id: str, episode_metrics: dict[str, np.ndarray], kwargs: dict[str, Any]) -> dict[str, float]:
    if not env_id.startswith("atc/"):
        return {}
    from evo_marl.envs.atc import evaluation as atc_eval

    return atc_eval.summarise(episode_metrics, atc_eval.step_seconds(kwargs))


def cross_evaluate(source: str | Path | Sequence | Any, env_ids: Sequence[str] | str, episodes: int = 100,
                   seed: int = 12345, env_kwargs: dict[str, Any] | None = None, all_members: bool = False,
                   max_steps: int | None = None, with_bound: bool = True) -> list[EnvEvaluation]:
    """Evaluate the best member (or every member) of ``source`` on every env of ``env_ids``.

    Args:
        source: a run folder (its newest generation and its config), a population (list of members) or
            one member.
        env_ids: env ids or globs (``"atc/*"``).
        episodes: episodes per env (one sub-env each). seed: reset seed (same episodes for every member).
        env_kwargs: options for every env, on top of those carried over from the training env.
        all_members: every member of the population, not just the one with the best last fitness.
        max_steps: cap on the vector steps of an evaluation (None: until every first episode ends).
        with_bound: also compute the ATC straight-flight bound of the same episodes.

    Returns:
        one :class:`EnvEvaluation` per member and env, envs in the order given.
    """
    train_id, train_kwargs = None, {}
    if isinstance(source, (str, Path)):
        population, config = load_run(source)
        train_id, train_kwargs = config.env.id, dict(config.env.kwargs)
    elif isinstance(source, (list, tuple)):
        population = list(source)
    else:
        population = [source]
    if not population:
        raise ConfigError("source", source, "holds no members")
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise ConfigError("episodes", episodes, "must be an integer >= 1")
    members = population if all_members else [best_member(population)]
    results = []
    for env_id in resolve_env_ids(env_ids):
        kwargs = {**_family_kwargs(env_id, train_id, train_kwargs), **(env_kwargs or {})}
        env = make_vec_env(env_id, num_envs=episodes, seed=seed, **kwargs)
        reference, kind, bound = _atc_reference(env_id, kwargs, episodes, seed, with_bound) \
            if env_id.startswith("atc/") else (None, "", None)
        for member in members:
            was_training = member.training
            member.set_training_mode(False)
            try:
                res = run_episodes(RolePolicy(member, env), env, max_steps=max_steps, seed=seed)
            finally:
                member.set_training_mode(was_training)
            results.append(EnvEvaluation(
                env_id, member.index, episodes, float(np.mean(res.returns)), float(np.std(res.returns)),
                {**res.mean_metrics(), **_summary(env_id, res.metrics, kwargs)}, reference, kind, bound,
                res.returns, res.metrics))
    return results


def format_table(results: Sequence[EnvEvaluation]) -> str:
    """A Markdown table of cross-evaluation results (ATC columns where present)."""
    atc = any("los_risk" in r.metrics for r in results)
    head = "| env | member | episodes | return | optimum / bound |"
    head += " LoS risk | LoS / flight h | waypoints | clean | min sep (NM) |" if atc else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        ref = f"{r.reference:.1f}" if r.reference is not None else "-"
        ref += f" / {r.bound:.1f}" if r.bound is not None else ""
        line = f"| {r.env_id} | {r.member} | {r.episodes} | {r.mean_return:.2f} ± {r.std_return:.2f} | {ref} |"
        if atc:
            m = r.metrics
            line += (f" {m.get('los_risk', math.nan):.1%} | {m.get('los_per_flight_hour', math.nan):.2f} |"
                     f" {m.get('waypoint_fraction', math.nan):.1%} | {m.get('clean', math.nan):.1%} |"
                     f" {m.get('min_separation_nm', math.nan):.2f} |")
        lines.append(line)
    return "\n".join(lines)
