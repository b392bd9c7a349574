"""Evolutionary hyperparameter optimisation: ranges, tournament selection, mutations."""

from evo_marl.hpo.mutation import Mutations
from evo_marl.hpo.parameters import HyperparameterConfig, RLParameter
from evo_marl.hpo.tournament import TournamentSelection

__all__ = ["HyperparameterConfig", "Mutations", "RLParameter", "TournamentSelection"]
