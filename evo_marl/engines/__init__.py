"""Training engines. ``evo-marl`` (the default) is this package's batched population trainer; ``agilerl``
runs the same experiment through AgileRL's own population trainer (:mod:`evo_marl.engines.agilerl`,
optional: ``pip install 'evo-marl[agilerl]'`` in a venv with ``pettingzoo<1.27``)."""

from __future__ import annotations

from evo_marl.errors import ConfigError

DEFAULT_ENGINE = "evo-marl"
ENGINES = (DEFAULT_ENGINE, "agilerl")


def check_engine(engine: str) -> str:
    """The canonical engine name (case and ``_``/``-`` do not matter), or a :class:`ConfigError`."""
    name = engine.strip().lower().replace("_", "-") if isinstance(engine, str) else None
    if name not in ENGINES:
        raise ConfigError("engine", engine, f"must be one of {', '.join(ENGINES)}")
    return name


__all__ = ["DEFAULT_ENGINE", "ENGINES", "check_engine"]
