"""Exceptions raised for bad input. Each message names the field, the value and the rule."""

from __future__ import annotations

from typing import Any


class EvoMarlError(Exception):
    """Base class of every error evo-marl raises on purpose."""


class ConfigError(EvoMarlError, ValueError):
    """An invalid configuration value (YAML file, dictionary or keyword argument)."""

    def __init__(self, field: str, value: Any, rule: str):
        self.field, self.value, self.rule = field, value, rule
        super().__init__(f"{field}={value!r}: {rule}")

    def renamed(self, field: str) -> ConfigError:
        """The same error under the field's name where the user wrote it (``min`` -> ``hp_ranges.lr.min``)."""
        return ConfigError(field, self.value, self.rule)


class EnvError(EvoMarlError, ValueError):
    """An invalid environment, scenario, space or environment output."""


class SpaceError(EnvError):
    """An observation or action space that an algorithm cannot handle."""


class CheckpointError(EvoMarlError, RuntimeError):
    """A checkpoint folder that is missing, corrupt, or from another configuration."""


class StorageError(EvoMarlError, OSError):
    """A run folder that cannot be written (disk full, read-only, no permission). The message names the path,
    the cause and what the run folder still holds; no temporary file or folder is left behind."""


def check(condition: bool, field: str, value: Any, rule: str, error: type[Exception] = ConfigError) -> None:
    """Raise ``error(field, value, rule)`` (a ``ConfigError`` by default) unless ``condition`` holds."""
    if not condition:
        if error is ConfigError:
            raise ConfigError(field, value, rule)
        raise error(f"{field}={value!r}: {rule}")
