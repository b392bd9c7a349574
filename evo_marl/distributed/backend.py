"""Which backend runs a population's generations: ``local`` (one process, the reference) or ``ray``.

:class:`RayBackend` is both the ``ray:`` section of an experiment YAML and the ``backend=`` argument of the
Python API; this module never imports Ray (it is an optional dependency: ``pip install 'evo-marl[ray]'``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evo_marl import validation
from evo_marl.errors import ConfigError, EvoMarlError

BACKENDS = ("local", "ray")


class WorkerError(EvoMarlError, RuntimeError):
    """The Ray workers could not be started, or every worker of a generation was lost."""


@dataclass
class RayBackend:
    """Settings of the Ray backend: the population is split into ``num_workers`` contiguous slices, each
    trained by one Ray actor; the driver keeps selection, mutation, checkpoints and metric writers.

    Attributes:
        address: the cluster to join: ``None`` starts a local Ray instance (or uses the one this process
            already initialised), ``"auto"`` joins the cluster started on this machine with
            ``ray start --head``, ``"ray://<head>:10001"`` connects a remote driver through Ray Client.
        num_workers: actors, each owning ``population_size / num_workers`` members (at most the population
            size). The fitness history is reproducible for a given seed *and* worker count.
        cpus_per_worker: CPUs Ray reserves for each actor (also its torch thread count, rounded down, >= 1).
        max_retries: times a generation is rerun on a restarted worker after its worker died; when they are
            spent, that worker's members are ranked last for the generation (and rebuilt by selection).
        startup_timeout: seconds to wait for the workers to start (a cluster without enough free CPUs would
            otherwise wait forever).
        init_kwargs: extra arguments of ``ray.init`` (``num_cpus`` of a local instance, ``runtime_env``, ...).
    """

    address: str | None = None
    num_workers: int = 2
    cpus_per_worker: float = 1.0
    max_retries: int = 1
    startup_timeout: float = 300.0
    init_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.address is not None and (not isinstance(self.address, str) or not self.address):
            raise ConfigError("ray.address", self.address, "must be null (a local instance), 'auto' or "
                                                            "'ray://<head>:<port>'")
        validation.positive_int("ray.num_workers", self.num_workers)
        self.cpus_per_worker = validation.number("ray.cpus_per_worker", self.cpus_per_worker, 0, low_open=True)
        validation.number("ray.max_retries", self.max_retries, 0, integer=True)
        self.startup_timeout = validation.number("ray.startup_timeout", self.startup_timeout, 0, low_open=True)
        if not isinstance(self.init_kwargs, dict):
            raise ConfigError("ray.init_kwargs", self.init_kwargs, "must be a mapping of ray.init arguments")
        if "address" in self.init_kwargs:
            raise ConfigError("ray.init_kwargs.address", self.init_kwargs["address"], "set ray.address instead")


def resolve_backend(backend: Any) -> RayBackend | None:
    """``None`` for the local backend (``None`` or ``"local"``), a :class:`RayBackend` for ``"ray"`` (default
    settings), a ``RayBackend`` or a mapping of its fields."""
    if backend is None or backend == "local":
        return None
    if backend == "ray":
        return RayBackend()
    if isinstance(backend, RayBackend):
        return backend
    if isinstance(backend, dict):
        validation.no_unknown("ray", backend, RayBackend.__dataclass_fields__, what="Ray backend setting")
        return RayBackend(**backend)
    raise ConfigError("backend", backend, f"must be one of {list(BACKENDS)}, a RayBackend or a mapping of its fields")
