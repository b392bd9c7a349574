"""Evolvable networks: MLPs whose architecture mutates while keeping their function where possible."""

from evo_marl.networks.evolvable_mlp import ACTIVATIONS, ARCHITECTURE_OPS, DEFAULT_INIT_SEED, EvolvableMLP

__all__ = ["ACTIVATIONS", "ARCHITECTURE_OPS", "DEFAULT_INIT_SEED", "EvolvableMLP"]
