"""Trainers, evaluation, early stopping and checkpoints."""

from evo_marl.training.api import train_multi_agent_off_policy
from evo_marl.training.checkpoint import latest_generation, load_population
from evo_marl.training.evaluation import evaluate_population, run_episodes
from evo_marl.training.on_policy import OnPolicyPhase, train_multi_agent_on_policy
from evo_marl.training.stopping import ConflictFreeStreak, ConvergenceCriterion, StoppingCriterion, TargetFitness

__all__ = ["ConflictFreeStreak", "ConvergenceCriterion", "StoppingCriterion", "TargetFitness", "evaluate_population",
           "latest_generation", "load_population", "run_episodes", "train_multi_agent_off_policy"]
__all__ += ["OnPolicyPhase", "train_multi_agent_on_policy"]
