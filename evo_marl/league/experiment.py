"""Running the ``league:`` section of an experiment config (called by :func:`evo_marl.experiment.run_experiment`)."""

from __future__ import annotations

from typing import Any

from evo_marl.config import ExperimentConfig


def run_league(config: ExperimentConfig, env, pop: list, common: dict[str, Any]) -> tuple[list, list[list[float]]]:
    """Train ``pop`` as a league with the trainer arguments ``common`` that ``run_experiment`` prepared."""
    from evo_marl.league.train import train_league

    kwargs = dict(common)
    kwargs.pop("net_config", None)
    t = config.training
    pop, history, _ = train_league(env, config.env.id, config.algo, pop, config.league,
                                   learning_delay=t.learning_delay, memory_size=t.memory_size,
                                   save_buffer=config.output.save_buffer, **kwargs)
    return pop, history
