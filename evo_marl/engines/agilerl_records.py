"""evo-marl generation records from AgileRL's population trainer.

AgileRL 2.58's trainers evaluate the population, report, then hand it to the selection strategy. The
selection strategy is a trainer argument, so the engine wraps AgileRL's own
``TournamentSelection`` in a subclass (:func:`observed_selection`) that first gives the evaluated
population to a :class:`GenerationObserver` (one :class:`~evo_marl.tracking.records.GenerationRecord` per generation,
written through evo-marl's writers, then the stopping criteria) and afterwards records which member each
child was cloned from (AgileRL draws the winners but does not keep a parent). When the step budget is
spent or a criterion fires, the observer raises :class:`StopTraining` before selection, so the run ends
with the population that was just evaluated (as evo-marl's engine does). Nothing here imports agilerl at
module level.
"""

from __future__ import annotations

import math
import time
from typing import Any

from evo_marl.stopping import StoppingCriterion
from evo_marl.tracking.records import GenerationRecord, MemberRecord

SCALAR = (bool, int, float)


class StopTraining(Exception):
    """Raised from the selection hook to end AgileRL's training loop after an evaluated generation."""

    def __init__(self, reason: str | None):
        super().__init__(reason or "budget spent")
        self.reason = reason


def _networks(agent) -> dict[str, Any]:
    """``{"actors/A1": net, ...}``: the agent's trained networks (targets left out)."""
    out = {}
    for attr, modules in agent.evolvable_attributes(networks_only=True).items():
        if "target" in attr:
            continue
        items = modules.items() if hasattr(modules, "items") else [("", modules)]
        for group, net in items:
            out[f"{attr}/{group}" if group else attr] = net
    return out


def architecture(agent) -> dict[str, list[int]]:
    """Hidden layer widths per network: the encoder's hidden layers, the latent layer, the head's."""
    arch = {}
    for name, net in _networks(agent).items():
        encoder = getattr(net, "encoder_config", {}) or {}
        head = getattr(net, "head_config", {}) or {}
        latent = [int(net.latent_dim)] if getattr(net, "latent_dim", None) else []
        arch[name] = [int(h) for h in encoder.get("hidden_size", [])] + latent + [int(h) for h in
                                                                                 head.get("hidden_size", [])]
    return arch


def activation(agent) -> str:
    nets = _networks(agent)
    first = next((n for k, n in nets.items() if k.startswith("actor")), next(iter(nets.values()), None))
    return str(getattr(first, "activation", "") or "")


def parameter_count(agent) -> int:
    return int(sum(p.numel() for net in _networks(agent).values() for p in net.parameters()))


def hyperparameters(agent, names: tuple[str, ...]) -> dict[str, Any]:
    """The scalar hyperparameters among ``names`` that ``agent`` has (AgileRL's attribute values)."""
    hps = {}
    for name in (*agent.registry.hp_config.names(), *names):
        value = getattr(agent, name, None)
        if isinstance(value, SCALAR):
            hps[name] = value
    return hps


def mutation_text(agent, before: dict[str, Any]) -> str:
    """AgileRL's ``agent.mut`` in evo-marl's vocabulary (see ``tracking.run_data.mutation_kind``):
    ``None``, ``parameters``, ``activation:<name>``, ``<hp>:<old>-><new>`` or the architecture method."""
    mut = str(agent.mut) if agent.mut is not None else "None"
    if mut in ("None", ""):
        return "None"
    if mut == "param":
        return "parameters"
    if mut == "act":
        return f"activation:{activation(agent)}"
    if mut in agent.registry.hp_config.names():
        old, new = before.get(mut), getattr(agent, mut, None)
        if isinstance(old, SCALAR) and isinstance(new, SCALAR):
            return f"{mut}:{old:.4g}->{new:.4g}"
        return f"{mut}:?->{new}"
    return mut


class GenerationObserver:
    """Builds, writes and checks one :class:`GenerationRecord` per evaluated AgileRL generation.

    Args:
        population: the initial population (its hyperparameters are the "before" of the pre-training
            mutations AgileRL applies to every member).
        writers: evo-marl writers (``WriterGroup``). stopping: evo-marl stopping criteria.
        max_steps: the step budget per member. hp_names: hyperparameters recorded besides the mutable ones.
    """

    def __init__(self, population: list, writers, stopping: list[StoppingCriterion], max_steps: int,
                 hp_names: tuple[str, ...]):
        self.writers, self.stopping, self.max_steps, self.hp_names = writers, stopping, max_steps, hp_names
        self.generation = 0
        self.history: list[list[float]] = []
        self.records: list[GenerationRecord] = []
        self.parents: dict[int, int] = {}
        self.before: dict[int, dict[str, Any]] = {a.index: hyperparameters(a, hp_names) for a in population}
        self.total_steps = 0
        self.started = self.last = time.perf_counter()
        self._steps = {a.index: int(a.metrics.steps) for a in population}

    def _member(self, agent) -> MemberRecord:
        fitness = float(agent.fitness[-1]) if agent.fitness else math.nan
        return MemberRecord(
            index=int(agent.index), parent=self.parents.get(agent.index), fitness=fitness,
            mutation=mutation_text(agent, self.before.get(self.parents.get(agent.index, agent.index), {})),
            steps=int(agent.metrics.steps), hyperparameters=hyperparameters(agent, self.hp_names),
            architecture=architecture(agent), activation=activation(agent), parameter_count=parameter_count(agent),
            failed=not math.isfinite(fitness), eval_return=fitness)

    def observe(self, population: list) -> None:
        """Record the evaluated ``population``; raises :class:`StopTraining` when the run should end."""
        now = time.perf_counter()
        self.generation += 1
        members = [self._member(a) for a in population]
        transitions = sum(m.steps - self._steps.get(self.parents.get(m.index, m.index), 0) for m in members)
        training = sum((m.steps - self._steps.get(self.parents.get(m.index, m.index), 0))
                       / max(float(a.metrics.steps_per_second), 1e-9) for m, a in zip(members, population))
        self.total_steps += transitions
        elapsed = now - self.last
        timings = {"training": training, "evaluation_and_evolution": max(elapsed - training, 0.0)}
        record = GenerationRecord(self.generation, self.total_steps, members, timings=timings,
                                  transitions_per_second=transitions / max(elapsed, 1e-9), wall_time=now - self.started)
        fired = [c.name for c in self.stopping if c.update(record)]
        record.stop_reason = fired[0] if fired else None
        self.writers.write_generation(record)
        self.records.append(record)
        self.history.append(record.fitnesses)
        self.before = {m.index: m.hyperparameters for m in members}
        self._steps = {m.index: m.steps for m in members}
        self.last = time.perf_counter()
        if fired or min(m.steps for m in members) >= self.max_steps:
            raise StopTraining(record.stop_reason)

    def set_parents(self, children: list, parent_indices: list[int]) -> None:
        self.parents = {int(child.index): int(parent) for child, parent in zip(children, parent_indices)}


def observed_selection(observer: GenerationObserver, tournament_size: int, elitism: bool, population_size: int,
                       keep: bool = False):
    """AgileRL's ``TournamentSelection`` that reports each evaluated generation to ``observer`` first.

    ``keep=True`` (evo-marl's ``selection.strategy: none``) keeps every member as it is (pair it with
    mutations that never mutate); the members train on independently, as in random search.
    """
    from agilerl.hpo.tournament import TournamentSelection

    class ObservedTournamentSelection(TournamentSelection):
        def _tournament(self, fitness_values):
            winner = super()._tournament(fitness_values)
            self._winners.append(winner)
            return winner

        def select(self, population):
            observer.observe(population)
            if keep:
                observer.set_parents(population, [a.index for a in population])
                best = max(population, key=lambda a: a.fitness[-1] if a.fitness else -math.inf)
                return best, list(population), None
            self._winners: list[int] = []
            elite, children, indices = super().select(population)
            parents = [population[w].index for w in self._winners]
            observer.set_parents(children, ([elite.index] if self.elitism else []) + parents)
            return elite, children, indices

    return ObservedTournamentSelection(tournament_size, elitism, population_size)
