"""Environment registry: ``make_env`` / ``make_vec_env`` / ``list_envs`` and PettingZoo registration.

An env id is ``"<family>/<scenario>"``: ``"atc/head_on"``, ``"bucket_brigade/rest_trap"``,
``"tiny/coop_target"``, ``"mpe2/simple_spread_v3"``, ``"gym/CartPole-v1"``. Families register
themselves when their module is imported; built-in families are imported on first use.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pettingzoo import ParallelEnv

from evo_marl.envs.vector import SyncParallelVecEnv, VectorEnv
from evo_marl import validation
from evo_marl.errors import EnvError
from evo_marl.seeding import SeedLike


@dataclass(frozen=True)
class EnvFamily:
    """A family of scenarios behind one simulator.

    Attributes:
        name: the id prefix (``"atc"``).
        make_env: ``(scenario, **kwargs) -> ParallelEnv``.
        scenarios: ``() -> list[str]``, the scenario names the family ships (for error messages, the CLI).
        make_vec_env: ``(scenario, num_envs, seed, **kwargs) -> VectorEnv`` for a native batched
            simulator; ``None`` wraps ``make_env`` in :class:`SyncParallelVecEnv`.
        open_ended: True where any scenario name may be valid (e.g. every mpe2 task), so the list
            returned by ``scenarios`` is not exhaustive.
        stopping: stopping criteria the family contributes, by the name configs use in
            ``training.stopping.criteria`` (``{"conflict_free_streak": ConflictFreeStreak}``). Each is built
            from the config's value (a mapping: keyword arguments; anything else: the first argument) and
            the keyword ``env_id`` (the experiment's env id).
        run_plotters: ``(run_dir, scenario, env_kwargs, best_member, seed) -> Path`` drawn after a run.
        evaluation_summary: ``episode metrics {name: float64[episodes]} -> {name: float}``, what an
            evaluation adds beyond the mean of each metric (e.g. ATC's LoS risk).
        file_scenario: the scenario name that loads a user's scenario file given as ``kwargs["file"]``
            (``"atc/file"``; not in ``scenarios``, which build without options); None: the family has none.
        transfer_options: ``training env options -> options``: those that carry over when a member trained
            on one scenario of the family is evaluated on another (None: none carry over).
        reference_returns: ``(scenario, episodes, seed, options) -> (optimum, bound)``: the best team return
            the scenario allows where known, and a bound computed on the same episodes (either may be None).
        run_analysers: analyses of a finished run by name (``evo-marl analyse RUN_DIR --<name>``):
            ``(run_dir, scenarios=None, seed=0, best=False, ensemble=None) -> (markdown text, written paths)``
            (``best`` / ``ensemble``: which members, as in :func:`~evo_marl.cross_evaluation.cross_evaluate`).
    """

    name: str
    make_env: Callable[..., ParallelEnv]
    scenarios: Callable[[], list[str]]
    make_vec_env: Callable[..., VectorEnv] | None = None
    open_ended: bool = False
    stopping: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    run_plotters: tuple[Callable[..., Any], ...] = ()
    evaluation_summary: Callable[[Mapping[str, np.ndarray]], dict[str, float]] | None = None
    file_scenario: str | None = None
    transfer_options: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    reference_returns: Callable[..., tuple[float | None, float | None]] | None = None
    run_analysers: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


_FAMILIES: dict[str, EnvFamily] = {}
_BUILTIN_MODULES = {
    "tiny": "evo_marl.envs.tiny",
    "atc": "evo_marl.envs.atc",
    "bucket_brigade": "evo_marl.envs.bucket_brigade",
    "mpe2": "evo_marl.envs.mpe",
    "gym": "evo_marl.envs.gym_adapter",
}


def register_family(family: EnvFamily) -> None:
    """Register (or replace) an env family under ``family.name``."""
    _FAMILIES[family.name] = family


def _family(name: str) -> EnvFamily:
    if name not in _FAMILIES and name in _BUILTIN_MODULES:
        try:
            importlib.import_module(_BUILTIN_MODULES[name])
        except ImportError as err:
            raise EnvError(f"env family {name!r} could not be imported ({err}); is its extra installed?") from err
    if name not in _FAMILIES:
        known = sorted(set(_FAMILIES) | set(_BUILTIN_MODULES))
        raise EnvError(f"env family {name!r} is unknown: valid families are {known}")
    return _FAMILIES[name]


def parse_env_id(env_id: str) -> tuple[EnvFamily, str]:
    """Split ``"family/scenario"`` and check that the scenario exists."""
    if not isinstance(env_id, str) or env_id.count("/") != 1:
        raise EnvError(f"env id {env_id!r}: must look like 'family/scenario', e.g. 'atc/head_on' (see list_envs())")
    family_name, scenario = env_id.split("/")
    family = _family(family_name)
    if not family.open_ended and scenario not in family.scenarios() and scenario != family.file_scenario:
        files = f", or {family.file_scenario!r} with the option file=<path>" if family.file_scenario else ""
        raise EnvError(
            f"env id {env_id!r}: unknown scenario {scenario!r} of family {family_name!r}; "
            f"valid scenarios are {sorted(family.scenarios())}{files}"
        )
    return family, scenario


def family_of(env_id: str) -> EnvFamily:
    """The registered family of an env id (``"atc/head_on"`` -> the ATC family)."""
    return parse_env_id(env_id)[0]


_KWARG_TYPE_ERROR = re.compile(r"unexpected keyword argument '(\w+)'|multiple values for (?:keyword )?argument '(\w+)'")


def _build(env_id: str, family: EnvFamily, build: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``build(*args, **kwargs)`` with scenario options the family does not accept reported as EnvError."""
    if "scenario" in kwargs:
        hint = (f"; to load a scenario file use env id '{family.name}/{family.file_scenario}' with the option "
                "file=<path>" if family.file_scenario else "")
        raise EnvError(f"env option scenario={kwargs['scenario']!r}: the scenario is part of the env id "
                       f"{env_id!r}{hint}")
    try:
        return build(*args, **kwargs)
    except TypeError as err:
        match = _KWARG_TYPE_ERROR.search(str(err))
        name = match and (match.group(1) or match.group(2))
        if name not in kwargs:
            raise
        raise EnvError(f"env option {name}={kwargs[name]!r}: not an option of {env_id!r} ({err})") from err


def make_env(env_id: str, **kwargs: Any) -> ParallelEnv:
    """A single PettingZoo ``ParallelEnv`` for a registered id such as ``"atc/head_on"``."""
    family, scenario = parse_env_id(env_id)
    return _build(env_id, family, family.make_env, scenario, **kwargs)


def make_vec_env(
    env: str | Callable[[], ParallelEnv] | VectorEnv, num_envs: int, seed: SeedLike = None, **kwargs: Any
) -> VectorEnv:
    """A batched env of ``num_envs`` sub-envs.

    Args:
        env: a registered id (``"atc/head_on"``), a zero-argument factory returning any PettingZoo
            ``ParallelEnv`` (e.g. ``lambda: simple_spread_v3.parallel_env(continuous_actions=True)``),
            or an existing ``VectorEnv`` (a new one of the same kind is spawned).
        num_envs: number of parallel sub-envs (>= 1).
        seed: seed for the episode stream (``reset(seed=...)`` can re-seed later).
        **kwargs: scenario options for registered ids.
    """
    validation.positive_int("num_envs", num_envs, error=EnvError)
    if isinstance(env, VectorEnv):
        if kwargs:
            raise EnvError(f"kwargs {sorted(kwargs)}: cannot be applied when spawning from an existing VectorEnv")
        return env.spawn(num_envs, seed=seed)
    if isinstance(env, str):
        family, scenario = parse_env_id(env)
        if family.make_vec_env is not None:
            return _build(env, family, family.make_vec_env, scenario, num_envs=num_envs, seed=seed, **kwargs)
        return _build(env, family, lambda **kw: SyncParallelVecEnv(lambda: family.make_env(scenario, **kw), num_envs,
                                                                   seed=seed), **kwargs)
    if callable(env):
        if kwargs:
            raise EnvError(f"kwargs {sorted(kwargs)}: pass options inside the factory instead")
        return SyncParallelVecEnv(env, num_envs, seed=seed)
    raise EnvError(f"env={env!r}: must be a registered env id, a zero-argument ParallelEnv factory or a VectorEnv")


def list_envs(family: str | None = None) -> list[str]:
    """Every registered env id (importing the built-in families that import cleanly), or those of ``family``.

    Raises:
        EnvError: ``family`` is unknown or cannot be imported (the message lists the valid families).
    """
    if family:
        return [f"{family}/{s}" for s in _family(family).scenarios()]
    ids = []
    for name in sorted(set(_FAMILIES) | set(_BUILTIN_MODULES)):
        try:
            fam = _family(name)
        except EnvError:
            continue
        ids += [f"{name}/{s}" for s in fam.scenarios()]
    return ids
