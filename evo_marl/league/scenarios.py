"""Training over several Bucket Brigade scenarios: one vector env whose games play a list of scenarios.

* ``mixed``: the ``num_envs`` games are split as evenly as possible among the scenarios (scenario ``i``
  takes a contiguous block) and all of them step together;
* ``sequence``: every game plays one scenario at a time; :meth:`set_generation` moves to the next one
  every ``generations_per_scenario`` generations (cycling). Envs made by :meth:`spawn` (e.g. the
  evaluation env) follow the same schedule, so members are evaluated on the scenario they train on.

The observation carries the scenario features (spec section 7), so one policy can tell them apart. The
scenarios must agree on the number of agents and houses; the observation space's bounds are the union.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from evo_marl.envs.bucket_brigade.views import vec_env
from evo_marl.envs.vector import VectorEnv
from evo_marl.errors import ConfigError
from evo_marl.league.config import SCENARIO_MODES
from evo_marl.seeding import SeedLike, seed_sequence


@dataclass
class _Schedule:
    generations_per_scenario: int
    stage: int = 0


class MultiScenarioVecEnv(VectorEnv):
    """Bucket Brigade over a list of scenarios (see the module docstring).

    Args:
        scenarios: scenario names, files or dicts (at least one). num_envs: games in all.
        mode: ``mixed`` or ``sequence``. generations_per_scenario: ``sequence`` mode's stage length.
        seed: seed of the env streams. **kwargs: Bucket Brigade env options (``max_nights``, ``signal_bit``...).
    """

    def __init__(self, scenarios: list, num_envs: int, mode: str = "mixed", generations_per_scenario: int = 1,
                 seed: SeedLike = None, _schedule: _Schedule | None = None, **kwargs):
        if not scenarios:
            raise ConfigError("league.scenarios", scenarios, "must name at least one scenario")
        if mode not in SCENARIO_MODES:
            raise ConfigError("league.scenario_mode", mode, f"must be one of {list(SCENARIO_MODES)}")
        if mode == "mixed" and num_envs < len(scenarios):
            raise ConfigError("num_envs", num_envs, f"mixed mode needs at least one game per scenario "
                                                    f"({len(scenarios)} scenarios)")
        self.scenarios, self.mode, self.kwargs = list(scenarios), mode, dict(kwargs)
        self.num_envs = int(num_envs)
        self.schedule = _schedule or _Schedule(int(generations_per_scenario))
        k = len(self.scenarios)
        sizes = [self.num_envs // k + (i < self.num_envs % k) for i in range(k)] if mode == "mixed" \
            else [self.num_envs] * k
        self.bounds = np.cumsum([0, *sizes]) if mode == "mixed" else None
        children = seed_sequence(seed).spawn(k)
        self.envs = [vec_env(s, num_envs=n, seed=c, **kwargs) for s, n, c in zip(self.scenarios, sizes, children)]
        first = self.envs[0]
        for env in self.envs[1:]:
            if (env.sim.num_agents, env.sim.num_houses) != (first.sim.num_agents, first.sim.num_houses):
                raise ConfigError("league.scenarios", self.scenarios, "must agree on the number of agents and houses")
        self.possible_agents = list(first.possible_agents)
        self.metadata = dict(first.metadata)
        self.layout = first.sim.layout
        lows = np.min([e.single_observation_space(self.possible_agents[0]).low for e in self.envs], axis=0)
        highs = np.max([e.single_observation_space(self.possible_agents[0]).high for e in self.envs], axis=0)
        self._obs_space = spaces.Box(lows, highs, lows.shape, np.float32)

    def single_observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    def single_action_space(self, agent: str) -> spaces.Space:
        return self.envs[0].single_action_space(agent)

    def spawn(self, num_envs: int, seed: SeedLike = None) -> MultiScenarioVecEnv:
        return MultiScenarioVecEnv(self.scenarios, num_envs, self.mode, seed=seed, _schedule=self.schedule,
                                   **self.kwargs)

    def set_generation(self, generation: int) -> None:
        """``sequence`` mode: play scenario ``((generation - 1) // generations_per_scenario) mod K``."""
        self.schedule.stage = ((max(int(generation), 1) - 1) // self.schedule.generations_per_scenario) % len(self.envs)

    @property
    def current_scenarios(self) -> list[str]:
        """The scenario names being played now."""
        envs = self.envs if self.mode == "mixed" else [self.envs[self.schedule.stage]]
        return [e.scenario.name for e in envs]

    # ------------------------------------------------------------------ stepping
    def reset(self, seed: int | None = None, options: dict | None = None):
        if self.mode == "sequence":
            return self.envs[self.schedule.stage].reset(seed=seed, options=options)
        seeds = [None] * len(self.envs) if seed is None else \
            [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(len(self.envs))]
        parts = [env.reset(seed=s, options=options) for env, s in zip(self.envs, seeds)]
        return self._concat([p[0] for p in parts]), self._concat_infos([p[1] for p in parts])

    def step(self, actions):
        if self.mode == "sequence":
            return self.envs[self.schedule.stage].step(actions)
        parts = []
        for i, env in enumerate(self.envs):
            lo, hi = self.bounds[i], self.bounds[i + 1]
            parts.append(env.step({a: np.asarray(v)[lo:hi] for a, v in actions.items()}))
        out = tuple(self._concat([p[j] for p in parts]) for j in range(4))
        return (*out, self._concat_infos([p[4] for p in parts]))

    @staticmethod
    def _concat(dicts: list[dict]) -> dict:
        return {a: np.concatenate([d[a] for d in dicts]) for a in dicts[0]}

    def _concat_infos(self, infos: list[dict]) -> dict:
        sizes = [len(i["final_mask"]) for i in infos]
        out = {a: {} for a in self.possible_agents}
        out["final_mask"] = np.concatenate([i["final_mask"] for i in infos])
        out["final_observation"] = self._concat([i["final_observation"] for i in infos])
        out["active_mask"] = self._concat([i["active_mask"] for i in infos])
        names = sorted({k for i in infos for k in i.get("episode", {})})
        out["episode"] = {k: np.concatenate([np.asarray(i["episode"][k], np.float64) if k in i.get("episode", {})
                                             else np.full(n, np.nan) for i, n in zip(infos, sizes)]) for k in names}
        return out
