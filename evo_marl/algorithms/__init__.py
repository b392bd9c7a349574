"""Algorithms: MADDPG, MATD3 and IPPO over a shared evolvable base, and the registry that lists them."""

from evo_marl.algorithms.base import EvolvableAlgorithm
from evo_marl.algorithms.ippo import IPPO
from evo_marl.algorithms.maddpg import MADDPG
from evo_marl.algorithms.matd3 import MATD3
from evo_marl.algorithms.registry import (
    algorithm_names, algorithm_settings, create_population, get_algorithm, register_algorithm,
)

__all__ = ["EvolvableAlgorithm", "IPPO", "MADDPG", "MATD3", "algorithm_names", "algorithm_settings",
           "create_population", "get_algorithm", "register_algorithm"]
