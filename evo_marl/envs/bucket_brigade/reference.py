"""A scalar, unbatched transcription of the reference rules (spec sections 1-5), one env, one draw at a time.

It is deliberately written house by house with one scalar ``RandomState.random()`` per draw, in the
reference's order, so it serves as the oracle of the parity tests (the batched ``mode="parity"``
simulator must reproduce it draw for draw) and as the scalar speed baseline of the benchmark. Not
meant for training: use :mod:`.simulator`.
"""

from __future__ import annotations

import numpy as np

from evo_marl.envs.bucket_brigade.scenarios import Scenario, load_scenario

SAFE, BURNING, RUINED = 0, 1, 2


class ReferenceEnv:
    """The reference game for one env: ``reset(seed)`` then ``step(actions[N, 2 or 3])``."""

    def __init__(self, scenario: str | dict | Scenario = "default"):
        self.scenario = load_scenario(scenario)
        self.num_agents, self.num_houses = self.scenario.num_agents, self.scenario.num_houses
        self.rng = np.random.RandomState()
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.RandomState(seed)
        s = self.scenario
        self.night, self.done = 0, False
        self.houses = [SAFE] * self.num_houses
        self.prev = [SAFE] * self.num_houses  # all SAFE at reset, even where a fire starts (quirk)
        for h in range(self.num_houses):
            if self.rng.random() < s.rho:
                self.houses[h] = BURNING
        self.locations = [0] * self.num_agents
        self.signals = [0] * self.num_agents
        self.last_actions = [[0, 0] for _ in range(self.num_agents)]

    def step(self, actions) -> list[float]:
        s, n, hh = self.scenario, self.num_agents, self.num_houses
        actions = [[int(v) for v in a] for a in actions]
        self.signals = [a[2] if len(a) > 2 else a[1] for a in actions]
        self.last_actions = [a[:2] for a in actions]
        self.locations = [a[0] for a in actions]
        for h in range(hh):  # extinguish
            if self.houses[h] != BURNING:
                continue
            k = sum(1 for a in actions if a[0] == h and a[1] == 1)
            if self.rng.random() < 1.0 - (1.0 - s.kappa) ** k:
                self.houses[h] = SAFE
        for h in range(hh):  # burn-out
            if self.houses[h] == BURNING:
                self.houses[h] = RUINED
        for h in range(hh):  # spread: nothing is BURNING any more, so this never draws
            if self.houses[h] == BURNING:
                for nb in ((h - 1) % hh, (h + 1) % hh):
                    if self.houses[nb] == SAFE and self.rng.random() < s.beta:
                        self.houses[nb] = BURNING
        for h in range(hh):  # ignition
            if self.houses[h] == SAFE and self.rng.random() < s.rho:
                self.houses[h] = BURNING
        n_safe = sum(1 for x in self.houses if x == SAFE)
        n_ruined = sum(1 for x in self.houses if x == RUINED)
        team = s.A * n_safe / hh - s.L * n_ruined / hh
        rewards = []
        for i in range(n):
            r = -s.c if actions[i][1] == 1 else s.rest_reward
            for h in range(hh):
                own = h % n == i
                if self.prev[h] != SAFE and self.houses[h] == SAFE:
                    r += s.r_own if own else s.r_other
                if self.houses[h] == RUINED:
                    r -= s.p_own if own else s.p_other
            rewards.append(r + team)
        self.prev = list(self.houses)
        self.done = self.night >= s.min_nights and BURNING not in self.houses
        self.night += 1
        return rewards
