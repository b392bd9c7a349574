"""The Bucket Brigade rules on arrays batched over environments (no Python loop over envs or houses).

Shapes: ``E`` envs, ``N`` agents, ``H`` houses. House states are ``int8``: SAFE = 0, BURNING = 1,
RUINED = 2. One night (spec section 3) is, in order: record actions, extinguish, burn-out, spread
(inert: no house is BURNING after burn-out), ignition, rewards, termination check, ``night += 1``.

The random draws are passed in as uniforms in [0, 1) so the same functions serve both modes: the fast
mode draws ``[E, H]`` blocks from a ``numpy.random.Generator`` (one uniform per house, of which only
those of BURNING / SAFE houses are used); the parity mode (:mod:`.parity`) lays out each env's
reference draws into the same arrays.
"""

from __future__ import annotations

import numpy as np

SAFE, BURNING, RUINED = 0, 1, 2
REST, WORK = 0, 1


def worker_counts(house: np.ndarray, work: np.ndarray, num_houses: int) -> np.ndarray:
    """``intp[E, H]``: number of agents WORKing at each house (``house``/``work`` are ``[E, N]``)."""
    num_envs = house.shape[0]
    flat = (house + (np.arange(num_envs) * num_houses)[:, None]).ravel()
    counts = np.bincount(flat, weights=work.ravel(), minlength=num_envs * num_houses)
    return counts.astype(np.intp).reshape(num_envs, num_houses)


def extinguish_probability_table(kappa: float, num_agents: int) -> np.ndarray:
    """``p[k] = 1 - (1 - kappa)^k`` for ``k = 0..N`` (float64, as the reference computes it)."""
    k = np.arange(num_agents + 1, dtype=np.float64)
    return 1.0 - (1.0 - kappa) ** k


def fire_night(houses: np.ndarray, p_extinguish: np.ndarray, rho: float,
               u_extinguish: np.ndarray, u_ignite: np.ndarray) -> np.ndarray:
    """Extinguish, burn out and ignite (steps 2-5 of a night); returns the new ``int8[E, H]`` houses.

    Args:
        houses: ``int8[E, H]`` at the start of the night.
        p_extinguish: ``float64[E, H]``, ``1 - (1 - kappa)^k`` per house.
        rho: ignition probability.
        u_extinguish: uniforms deciding extinguishing (used where BURNING).
        u_ignite: uniforms deciding ignition (used where SAFE after burn-out).
    """
    burning = houses == BURNING
    put_out = burning & (u_extinguish < p_extinguish)
    # burn-out: BURNING (1) + 1 = RUINED (2); a fire put out goes back to SAFE (0). Spread then has
    # nothing to do (no house is BURNING), as in the reference.
    new = houses + burning.view(np.int8)
    new -= put_out.view(np.int8) * np.int8(2)
    new += ((new == SAFE) & (u_ignite < rho)).view(np.int8)
    return new


def initial_houses(u: np.ndarray, rho: float) -> np.ndarray:
    """Houses at reset: each one BURNING with probability ``rho``, else SAFE."""
    return (u < rho).astype(np.int8)


def reward_weights(scenario, num_agents: int, num_houses: int) -> np.ndarray:
    """``float64[3H, N]`` weights turning ``[saved | ruined | safe]`` house masks into rewards.

    Row ``h`` (saved), ``H + h`` (ruined) and ``2H + h`` (safe) hold what house ``h`` in that state
    pays agent ``n``: ``r_own``/``r_other``, ``-(p_own/p_other) - L/H`` and ``A/H`` respectively.
    """
    s = scenario
    own = (np.arange(num_houses)[:, None] % num_agents) == np.arange(num_agents)[None, :]
    saved = np.where(own, s.r_own, s.r_other)
    ruined = -np.where(own, s.p_own, s.p_other) - s.L / num_houses
    safe = np.full((num_houses, num_agents), s.A / num_houses)
    return np.concatenate([saved, ruined, safe], axis=0)


def rewards(prev: np.ndarray, houses: np.ndarray, work: np.ndarray, weights: np.ndarray,
            work_cost: float, rest_reward: float) -> np.ndarray:
    """Per-agent rewards ``float64[E, N]`` of one night (spec section 4).

    ``r_i = (-c if WORK else rest_reward) + Σ_h saved_h·(r_own|r_other) - Σ_h ruined_h·(p_own|p_other)
    + A·#SAFE/H - L·#RUINED/H``, with ``saved_h`` = not SAFE at the start of the night (``prev``; all
    SAFE after a reset, a reference quirk) and SAFE now. One ``[E, 3H] @ [3H, N]`` product.
    """
    safe = houses == SAFE
    events = np.concatenate([safe & (prev != SAFE), houses == RUINED, safe], axis=1)
    out = events.astype(np.float64) @ weights
    out += np.where(work, -work_cost, rest_reward)
    return out


def terminated(houses: np.ndarray, night: np.ndarray, min_nights: int) -> np.ndarray:
    """``bool[E]``: ``night >= min_nights`` and no house BURNING (covers all SAFE / all RUINED)."""
    return (night >= min_nights) & ~(houses == BURNING).any(axis=1)
