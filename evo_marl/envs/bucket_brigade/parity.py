"""Parity mode: the reference's random draws, in the reference's order, one stream per env.

Each env owns a ``numpy.random.RandomState``. Per night it draws one uniform for every BURNING house in
index order (extinguish, even when nobody works there), then one for every house that is SAFE after
burn-out, in index order (ignition). A reset draws one uniform per house. The draws of one phase are
taken with ``random_sample(k)``, which yields exactly the same numbers as ``k`` scalar ``random()``
calls (tested). The uniforms are laid out in ``[E, H]`` arrays and handed to the shared batched rules
of :mod:`.rules`, so both modes share every line of game logic; only this loop over envs differs.
"""

from __future__ import annotations

import numpy as np

from evo_marl.envs.bucket_brigade.rules import BURNING, SAFE

SEED_BOUND = 2**31 - 1


class ParityStreams:
    """One ``RandomState`` per env; an env without a seed takes one from the env's Generator on reset.

    ``RandomState`` objects are created once per env and re-seeded in place afterwards (building a new
    one costs about a millisecond, ``seed()`` a few microseconds).
    """

    def __init__(self, num_envs: int):
        self.states: list[np.random.RandomState | None] = [None] * num_envs
        self.seeded = np.zeros(num_envs, bool)

    def seed(self, seeds, envs=None) -> None:
        """Seed env ``envs[j]`` (default: every env) with ``RandomState(seeds[j])``."""
        envs = range(len(self.states)) if envs is None else [int(e) for e in envs]
        seeds = list(seeds)
        if len(seeds) != len(envs):
            raise ValueError(f"seeds: expected {len(envs)} seeds, got {len(seeds)}")
        for e, s in zip(envs, seeds):
            if self.states[e] is None:
                self.states[e] = np.random.RandomState(int(s))
            else:
                self.states[e].seed(int(s))
            self.seeded[e] = True

    def forget(self) -> None:
        """Make every env draw a fresh seed from the Generator at its next reset."""
        self.seeded[:] = False

    def reset_uniforms(self, mask: np.ndarray, num_houses: int, rng: np.random.Generator) -> np.ndarray:
        """``float64[mask.sum(), H]``: one uniform per house for each env being reset."""
        envs = np.flatnonzero(mask)
        unseeded = envs[~self.seeded[envs]]
        if unseeded.size:
            self.seed(rng.integers(0, SEED_BOUND, size=unseeded.size).tolist(), unseeded)
        rows = [self.states[e].random_sample(num_houses) for e in envs]
        return np.array(rows, dtype=np.float64).reshape(-1, num_houses)

    def _draws(self, mask: np.ndarray) -> np.ndarray:
        """Uniforms for the True cells of ``mask``, env by env, house by house (row-major order)."""
        counts = mask.sum(axis=1).tolist()
        parts = [state.random_sample(c) for state, c in zip(self.states, counts) if c]
        return np.concatenate(parts) if parts else np.empty(0)

    def night_uniforms(self, houses: np.ndarray, p_extinguish: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Extinguish and ignition uniforms ``float64[E, H]`` for one night (unused slots are 1.0)."""
        burning = houses == BURNING
        u_ext = np.ones(houses.shape)
        u_ext[burning] = self._draws(burning)
        safe_after = (houses == SAFE) | (burning & (u_ext < p_extinguish))
        u_ign = np.ones(houses.shape)
        u_ign[safe_after] = self._draws(safe_after)
        return u_ext, u_ign
