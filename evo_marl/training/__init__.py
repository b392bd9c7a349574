"""Trainers: the generation loop, collection phases, evaluation, checkpoints and the AgileRL-style API."""

from evo_marl.training.api import train_multi_agent_off_policy, train_multi_agent_on_policy
from evo_marl.training.checkpoint import latest_generation, load_population
from evo_marl.training.evaluation import evaluate_population, run_episodes
from evo_marl.training.off_policy import OffPolicyPhase
from evo_marl.training.on_policy import OnPolicyPhase
from evo_marl.training.settings import RunSettings
from evo_marl.training.trainer import train_population

__all__ = ["OffPolicyPhase", "OnPolicyPhase", "RunSettings", "evaluate_population", "latest_generation",
           "load_population", "run_episodes", "train_multi_agent_off_policy", "train_multi_agent_on_policy",
           "train_population"]
