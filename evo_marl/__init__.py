"""evo-marl: evolutionary hyperparameter optimisation for multi-agent reinforcement learning."""

__version__ = "0.1.0"

from evo_marl.envs import list_envs, make_env, make_vec_env  # noqa: E402
from evo_marl.errors import CheckpointError, ConfigError, EnvError, EvoMarlError, SpaceError  # noqa: E402

__all__ = [
    "CheckpointError", "ConfigError", "EnvError", "EvoMarlError", "SpaceError",
    "list_envs", "make_env", "make_vec_env",
]
