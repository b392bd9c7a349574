"""Running the ``league:`` section of an experiment config (called by :func:`evo_marl.experiment.run_experiment`)."""

from __future__ import annotations

from evo_marl.config import ExperimentConfig


def league_env(config: ExperimentConfig):
    """The league's own training env when it trains over several scenarios (None: the experiment's env)."""
    lc = config.league
    if lc is None or not lc.scenarios:
        return None
    from evo_marl.league.scenarios import MultiScenarioVecEnv

    return MultiScenarioVecEnv(lc.scenarios, config.env.num_envs, lc.scenario_mode, lc.generations_per_scenario,
                               seed=config.seed, **config.env.kwargs)


def run_league(config: ExperimentConfig, env, population: list, settings, **trainer) -> tuple[list, list[list[float]]]:
    """Train ``population`` as a league; ``trainer`` holds ``selection``, ``mutation``, ``stopping``, ``writers``."""
    from evo_marl.league.off_policy import LeagueReplayBuffer
    from evo_marl.league.train import train_league

    memory = None
    if not population[0].on_policy:
        memory = LeagueReplayBuffer(config.training.memory_size, env.agents)
    population, history, _ = train_league(env, population, settings, config.league, memory=memory, **trainer)
    return population, history
