"""Mutations: each non-elite member gets one of none / architecture / weights / activation / RL hyperparameter."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from evo_marl import validation
from evo_marl.errors import ConfigError
from evo_marl.seeding import RngState, SeedLike, numpy_rng

logger = logging.getLogger(__name__)
DEFAULT_ACTIVATIONS = ("ReLU", "ELU", "GELU", "Tanh")
KINDS = ("none", "architecture", "parameters", "activation", "rl_hp")


class Mutations(RngState):
    """Random mutations of population members, with relative probabilities per kind.

    Args:
        no_mutation / architecture / parameters / activation / rl_hp: relative probabilities of each kind
            (normalised; at least one must be positive).
        new_layer_prob: within an architecture mutation, the probability of adding/removing a layer
            rather than nodes.
        mutation_sd: standard deviation of the Gaussian weight perturbation.
        activation_selection: activations an activation mutation may switch to (always a different one).
        mutate_elite: mutate the elite too (off by default: the elite is copied unchanged).
        rand_seed / rng: the explicit generator of every random draw.
        device, agent_ids, arch: accepted for AgileRL compatibility (members know their device and agents).

    Raises:
        ConfigError: for a negative or non-finite probability, or an unknown keyword (with a suggestion).
    """

    def __init__(self, no_mutation: float = 0.4, architecture: float = 0.2, new_layer_prob: float = 0.2,
                 parameters: float = 0.2, activation: float = 0.0, rl_hp: float = 0.2, mutation_sd: float = 0.1,
                 activation_selection: Sequence[str] = DEFAULT_ACTIVATIONS, mutate_elite: bool = False,
                 rand_seed: SeedLike = None, rng: np.random.Generator | None = None, device=None,
                 agent_ids=None, arch: str = "mlp", **unknown: Any):
        validation.no_unknown("Mutations", unknown, _OPTIONS, what="argument")
        probs = {"no_mutation": no_mutation, "architecture": architecture, "parameters": parameters,
                 "activation": activation, "rl_hp": rl_hp}
        for name, value in {**probs, "mutation_sd": mutation_sd}.items():
            validation.number(name, value, 0)
        validation.number("new_layer_prob", new_layer_prob, 0, 1)
        total = sum(probs.values())
        if total <= 0:
            raise ConfigError("no_mutation+architecture+parameters+activation+rl_hp", total, "must be > 0")
        self.probabilities = np.array(list(probs.values()), dtype=float) / total
        self.new_layer_prob, self.mutation_sd = float(new_layer_prob), float(mutation_sd)
        self.activation_selection = list(activation_selection)
        if activation > 0 and len(self.activation_selection) < 2:
            raise ConfigError("activation_selection", self.activation_selection,
                              "needs at least two activations for activation mutations")
        self.mutate_elite = bool(mutate_elite)
        self.rng = rng if rng is not None else numpy_rng(rand_seed)

    def mutation(self, population: list, pre_training_mut: bool = False) -> list:
        """Mutate every member in place (except the elite) and record ``member.mut``; returns the population."""
        for member in population:
            if member.elite and not self.mutate_elite:
                member.mut = "None"
                continue
            kind = KINDS[int(self.rng.choice(len(KINDS), p=self.probabilities))]
            member.mut = getattr(self, f"_{kind}")(member)
        return population

    def _none(self, member) -> str:
        return "None"

    def _architecture(self, member) -> str:
        """Grow or shrink one slot's networks by a layer or by nodes. A direction that the slot's bounds rule
        out (e.g. shrinking a grow-only network at its minimum) turns into the other one, so the mutation is
        not wasted; a slot fixed in both directions reports no change."""
        slot = sorted(member.slots)[int(self.rng.integers(len(member.slots)))]
        grow = bool(self.rng.random() < 0.5)
        kind = "layer" if self.rng.random() < self.new_layer_prob else "node"
        ops = [f"{'add' if grow else 'remove'}_{kind}", f"{'remove' if grow else 'add'}_{kind}"]
        for op in ops:
            if member.architecture_changes(slot, op):
                return member.mutate_architecture(slot, op, self.rng)
        return f"{slot}: no change (architecture fixed by its net_config bounds)"

    def _parameters(self, member) -> str:
        return member.perturb_weights(self.mutation_sd)

    def _activation(self, member) -> str:
        choices = [a for a in self.activation_selection if a != member.activation]
        return member.change_activation(choices[int(self.rng.integers(len(choices)))])

    def _rl_hp(self, member) -> str:
        if len(member.hp_config) == 0:
            return "None"
        name = member.hp_config.sample(self.rng)
        old = getattr(member, name)
        new = member.hp_config[name].mutate(old, self.rng)
        member.set_hyperparameter(name, new)
        return f"{name}:{old:.4g}->{new:.4g}"


_OPTIONS = [name for name in inspect.signature(Mutations.__init__).parameters if name not in ("self", "unknown")]
