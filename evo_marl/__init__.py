"""evo-marl: evolutionary hyperparameter optimisation for multi-agent reinforcement learning.

Public API (AgileRL call shape)::

    from evo_marl import (create_population, MultiAgentReplayBuffer, TournamentSelection, Mutations,
                          HyperparameterConfig, RLParameter, train_multi_agent_off_policy, make_vec_env,
                          AsyncPettingZooVecEnv, obs_channels_to_first, observation_space_channels_to_first)
"""

__version__ = "0.1.0"

from evo_marl.algorithms import MADDPG, MATD3, create_population  # noqa: E402
from evo_marl.algorithms.ippo import IPPO  # noqa: E402
from evo_marl.buffers.rollout import RolloutBuffer  # noqa: E402
from evo_marl.buffers import MultiAgentReplayBuffer  # noqa: E402
from evo_marl.envs import AsyncPettingZooVecEnv, list_envs, make_env, make_vec_env  # noqa: E402
from evo_marl.envs.channels import obs_channels_to_first, observation_space_channels_to_first  # noqa: E402
from evo_marl.errors import CheckpointError, ConfigError, EnvError, EvoMarlError, SpaceError  # noqa: E402
from evo_marl.hpo import HyperparameterConfig, Mutations, RLParameter, TournamentSelection  # noqa: E402
from evo_marl.training import (  # noqa: E402
    ConflictFreeStreak, ConvergenceCriterion, TargetFitness, load_population, train_multi_agent_off_policy,
)
from evo_marl.training.on_policy import train_multi_agent_on_policy  # noqa: E402

__all__ = [
    "CheckpointError", "ConfigError", "ConflictFreeStreak", "ConvergenceCriterion", "EnvError", "EvoMarlError",
    "HyperparameterConfig", "MADDPG", "MATD3", "MultiAgentReplayBuffer", "Mutations", "RLParameter", "SpaceError",
    "TargetFitness", "TournamentSelection", "create_population", "list_envs", "load_population", "make_env",
    "make_vec_env", "train_multi_agent_off_policy",
]
__all__ += ["IPPO", "RolloutBuffer", "train_multi_agent_on_policy", "AsyncPettingZooVecEnv", "obs_channels_to_first",
            "observation_space_channels_to_first"]
