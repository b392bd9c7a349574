"""Scale-out backends: one population trained across processes and machines (``pip install 'evo-marl[ray]'``).

The single-process runner stays the reference; :class:`RayBackend` runs the same per-generation phase in Ray
actors that own slices of the population, while the driver keeps selection, mutation, checkpoints and writers.
See ``docs/scaling.md``.
"""

from evo_marl.distributed.backend import BACKENDS, RayBackend, resolve_backend

__all__ = ["BACKENDS", "RayBackend", "resolve_backend"]
