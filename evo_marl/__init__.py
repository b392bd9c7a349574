"""evo-marl: evolutionary hyperparameter optimisation for multi-agent reinforcement learning.

Public API (AgileRL call shape)::

    from evo_marl import (create_population, MultiAgentReplayBuffer, TournamentSelection, Mutations,
                          HyperparameterConfig, RLParameter, train_multi_agent_off_policy, make_vec_env,
                          AsyncPettingZooVecEnv, obs_channels_to_first, observation_space_channels_to_first)
"""

__version__ = "0.2.0"

from evo_marl.algorithms import IPPO, MADDPG, MATD3, create_population, register_algorithm  # noqa: E402
from evo_marl.buffers import MultiAgentReplayBuffer, RolloutBuffer  # noqa: E402
from evo_marl.distributed import RayBackend  # noqa: E402
from evo_marl.envs import AsyncPettingZooVecEnv, list_envs, make_env, make_vec_env  # noqa: E402
from evo_marl.envs.atc.stopping import ConflictFreeStreak  # noqa: E402
from evo_marl.envs.channels import obs_channels_to_first, observation_space_channels_to_first  # noqa: E402
from evo_marl.errors import (  # noqa: E402
    CheckpointError, ConfigError, EnvError, EvoMarlError, SpaceError, StorageError,
)
from evo_marl.hpo import (  # noqa: E402
    HyperparameterConfig, MultiFrequencyPBT, Mutations, NoSelection, RLParameter, TournamentSelection, TTestSelection,
    best_member, member_fitness,
)
from evo_marl.stopping import ConvergenceCriterion, StoppingCriterion, TargetFitness  # noqa: E402
from evo_marl.training import (  # noqa: E402
    RunSettings, load_population, train_multi_agent_off_policy, train_multi_agent_on_policy, train_population,
)

__all__ = [
    "AsyncPettingZooVecEnv", "CheckpointError", "ConfigError", "ConflictFreeStreak", "ConvergenceCriterion",
    "EnvError", "EvoMarlError", "HyperparameterConfig", "IPPO", "MADDPG", "MATD3", "MultiAgentReplayBuffer",
    "MultiFrequencyPBT", "Mutations", "NoSelection", "RLParameter", "RayBackend", "RolloutBuffer", "RunSettings", "SpaceError",
    "StorageError", "StoppingCriterion", "TargetFitness", "TTestSelection", "TournamentSelection", "best_member",
    "create_population", "list_envs", "load_population", "make_env", "make_vec_env", "member_fitness", "obs_channels_to_first",
    "observation_space_channels_to_first", "register_algorithm", "train_multi_agent_off_policy",
    "train_multi_agent_on_policy", "train_population",
]
