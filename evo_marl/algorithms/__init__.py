"""Algorithms: MADDPG, MATD3 and IPPO over a shared evolvable base."""

from evo_marl.algorithms.base import EvolvableAlgorithm
from evo_marl.algorithms.maddpg import MADDPG
from evo_marl.algorithms.matd3 import MATD3
from evo_marl.algorithms.registry import create_population, get_algorithm, register_algorithm

__all__ = ["EvolvableAlgorithm", "MADDPG", "MATD3", "create_population", "get_algorithm", "register_algorithm"]
