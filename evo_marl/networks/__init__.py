"""Evolvable networks: MLPs whose architecture mutates while keeping their function where possible."""

from evo_marl.networks.evolvable_mlp import ACTIVATIONS, DEFAULT_INIT_SEED, EvolvableMLP

__all__ = ["ACTIVATIONS", "DEFAULT_INIT_SEED", "EvolvableMLP"]
