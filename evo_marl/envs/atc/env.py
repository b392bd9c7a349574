"""The ATC env constructors: a scenario (name, file or :class:`Scenario`) and options -> simulator, PettingZoo
``ParallelEnv`` or batched vector env. Documented in :mod:`evo_marl.envs.atc`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evo_marl.envs.atc.config import ATCConfig
from evo_marl.envs.atc.scenarios import FILE_SCENARIO, Scenario
from evo_marl.envs.atc.simulator import ATCSimulator
from evo_marl.envs.atc.traffic import traffic_source
from evo_marl.envs.native import NativeParallelEnv, NativeVecEnv
from evo_marl.errors import ConfigError
from evo_marl.seeding import SeedLike


def simulator_factory(scenario: str | Scenario = "head_on", config: ATCConfig | None = None,
                      file: str | Path | None = None, **kwargs: Any):
    """``num_envs -> ATCSimulator`` for a scenario name (``random``, ``mix`` or a shipped one), a file
    path or a :class:`Scenario`.

    ``scenario="file"`` (env id ``atc/file``) loads the user's scenario file given as ``file`` (JSON or YAML,
    relative to the working directory). The scenario file is read and every option validated once, here.
    Every simulator the factory makes shares one traffic source, so a schedule's clock is shared by all of them.
    """
    if isinstance(scenario, str) and scenario == FILE_SCENARIO:
        if file is None:
            raise ConfigError("file", None, f"is required for scenario '{FILE_SCENARIO}' (env id 'atc/file'): the "
                              "path of a JSON or YAML scenario file")
        if not isinstance(file, (str, Path)):
            raise ConfigError("file", file, "must be the path of a JSON or YAML scenario file")
        scenario = Path(file)
    elif file is not None:
        raise ConfigError("file", file, f"only applies to scenario '{FILE_SCENARIO}' (env id 'atc/file'), "
                          f"not {scenario!r}")
    source = traffic_source(scenario, kwargs)  # consumes the traffic options from kwargs
    cfg = ATCConfig.from_kwargs(config, **kwargs)
    return lambda num_envs: ATCSimulator(num_envs, source, cfg)


def parallel_env(
    scenario: str | Scenario = "head_on", render_mode: str | None = None, **kwargs: Any
) -> NativeParallelEnv:
    """One ATC env as a PettingZoo ``ParallelEnv`` (``render_mode`` ``None`` or ``"rgb_array"``)."""
    return NativeParallelEnv(simulator_factory(scenario, **kwargs), render_mode=render_mode)


def vec_env(scenario: str | Scenario, num_envs: int, seed: SeedLike = None, **kwargs: Any) -> NativeVecEnv:
    """``num_envs`` ATC envs stepped together as a :class:`NativeVecEnv` (auto-reset)."""
    return NativeVecEnv(simulator_factory(scenario, **kwargs), num_envs, seed=seed)
