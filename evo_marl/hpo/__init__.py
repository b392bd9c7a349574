"""Evolutionary hyperparameter optimisation: search spaces, fitness, selection strategies, mutations."""

from evo_marl.hpo.fitness import best_member, member_fitness
from evo_marl.hpo.mutation import Mutations
from evo_marl.hpo.parameters import HyperparameterConfig, RLParameter
from evo_marl.hpo.tournament import NoSelection, TournamentSelection

__all__ = ["HyperparameterConfig", "Mutations", "NoSelection", "RLParameter", "TournamentSelection", "best_member",
           "member_fitness"]
