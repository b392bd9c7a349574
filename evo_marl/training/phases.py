"""The per-generation collect-and-learn phase of a population (the same in one process and in each
worker of a distributed backend)."""

from __future__ import annotations

from evo_marl.envs.vector import VectorEnv
from evo_marl.errors import ConfigError
from evo_marl.population.phases import BatchedOffPolicyPhase, BatchedOnPolicyPhase
from evo_marl.training.off_policy import OffPolicyPhase
from evo_marl.training.on_policy import OnPolicyPhase
from evo_marl.training.settings import RunSettings


def build_phase(population: list, env: VectorEnv, memory, settings: RunSettings, entropy: int):
    """The collection phase the population's algorithm needs, checked against ``memory``: on-policy members
    learn from their own rollouts (no buffer), off-policy members from the shared replay buffer; with
    ``settings.batched_learning`` the members act and learn as stacks (docs/performance.md)."""
    lead = population[0]
    if lead.on_policy:
        if memory is not None:
            raise ConfigError("memory", type(memory).__name__,
                              f"{lead.algo_name} learns from its own rollouts: pass no replay buffer")
        if settings.batched_learning:
            return BatchedOnPolicyPhase(env, lead.num_envs, settings.evo_steps, entropy,
                                        grouping=settings.stack_grouping, precision=settings.precision)
        return OnPolicyPhase(env, lead.num_envs, settings.evo_steps, entropy)
    if memory is None:
        raise ConfigError("memory", None, f"{lead.algo_name} is off-policy: it needs a MultiAgentReplayBuffer")
    if lead.agent_ids != list(memory.agent_ids):
        raise ConfigError("memory.agent_ids", list(memory.agent_ids), f"must be the population's {lead.agent_ids}")
    small = [m.index for m in population if m.batch_size > memory.memory_size]
    if small:
        raise ConfigError("memory.memory_size", memory.memory_size,
                          f"must be >= every member's batch_size (members {small} would never learn)")
    ranges = [m.hp_config["batch_size"].max for m in population if "batch_size" in m.hp_config]
    if ranges and max(ranges) > memory.memory_size:
        raise ConfigError("hp_config.batch_size.max", max(ranges),
                          f"must be <= memory.memory_size ({memory.memory_size}): a mutated member with a larger batch "
                          "would never learn (narrow the range or enlarge the buffer)")
    args = (env, memory, lead.num_envs, settings.evo_steps, settings.learning_delay, entropy)
    if settings.batched_learning:
        return BatchedOffPolicyPhase(*args, grouping=settings.stack_grouping, precision=settings.precision)
    return OffPolicyPhase(*args)
