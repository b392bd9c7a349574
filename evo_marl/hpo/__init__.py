"""Evolutionary hyperparameter optimisation: search spaces, fitness, selection strategies (tournament,
multi-frequency PBT, PBT's t-test, none), mutations."""

from evo_marl.hpo.fitness import best_member, member_fitness
from evo_marl.hpo.multi_frequency import MultiFrequencyPBT
from evo_marl.hpo.mutation import Mutations
from evo_marl.hpo.parameters import HyperparameterConfig, RLParameter
from evo_marl.hpo.tournament import NoSelection, TournamentSelection
from evo_marl.hpo.ttest import TTestSelection

__all__ = ["HyperparameterConfig", "MultiFrequencyPBT", "Mutations", "NoSelection", "RLParameter",
           "TTestSelection", "TournamentSelection", "best_member", "member_fitness"]
