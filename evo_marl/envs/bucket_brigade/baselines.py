"""Scripted baselines on every Bucket Brigade scenario: mean team reward per night with 95% CIs.

Each (scenario, policy) cell plays ``episodes`` complete episodes with every seat taken by the same
scripted policy (a homogeneous team), in batches of ``num_envs`` parallel envs (fast mode). An
episode scores its team reward (sum over agents and nights) divided by its number of nights, the
metric of the reference's parity protocol; the cell reports the mean over episodes with a normal
95% confidence interval (``mean ± 1.96·sd/√n``).

Every cell draws from its own streams, derived from ``seed`` and the scenario and policy names, so a
cell's numbers do not depend on which other cells are run: the env's fire draws from one
``numpy.random.Generator`` and the policy from another.
"""

from __future__ import annotations

import csv
import io
import math
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evo_marl.envs.bucket_brigade.agents import POLICY_NAMES, make_policy
from evo_marl.envs.bucket_brigade.scenarios import list_scenarios, load_scenario
from evo_marl.envs.bucket_brigade.simulator import BucketBrigadeSimulator
from evo_marl.errors import ConfigError

COLUMNS = ("scenario", "policy", "episodes", "mean", "ci_low", "ci_high", "std", "nights",
           "houses_saved_fraction", "work_fraction")


def _stream(seed: int, *names: str) -> np.random.Generator:
    key = tuple(zlib.crc32(n.encode()) for n in names)
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and normal 95% confidence interval ``(mean, low, high)`` of per-episode values."""
    mean = float(np.mean(values))
    half = 1.96 * float(np.std(values, ddof=1)) / math.sqrt(np.size(values))
    return mean, mean - half, mean + half


def run_cell(scenario, policy: str, episodes: int, seed: int = 0, num_envs: int = 1000,
             max_nights: int = 100) -> dict[str, np.ndarray]:
    """Per-episode metrics (``name -> float64[episodes]``) of one homogeneous scripted team."""
    sc = load_scenario(scenario)
    label = policy if isinstance(policy, str) else "custom"
    env_rng, policy_rng = _stream(seed, sc.name, label, "env"), _stream(seed, sc.name, label, "policy")
    chunks: list[dict[str, np.ndarray]] = []
    remaining = episodes
    while remaining > 0:
        batch = min(remaining, num_envs)
        sim = BucketBrigadeSimulator(batch, sc, max_nights=max_nights)
        team = make_policy(policy, range(sim.num_agents), sim.num_agents, sim.num_houses, rng=policy_rng)
        sim.reset_where(np.ones(batch, bool), env_rng)
        done = np.zeros(batch, bool)
        result = {}
        while not done.all():
            acts, signals = team.act(sim.public_state())
            if sim.signal_bit:
                acts = np.concatenate([acts, signals[..., None]], axis=-1)
            _, terminated, truncated, _ = sim.step({a: acts[:, i] for i, a in enumerate(sim.possible_agents)},
                                                   env_rng)
            finished = (terminated | truncated) & ~done
            if finished.any():
                for name, values in sim.episode_metrics().items():
                    result.setdefault(name, np.zeros(batch))[finished] = values[finished]
                done |= finished
        chunks.append(result)
        remaining -= batch
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def run_baselines(scenarios: Sequence | None = None, policies: Sequence | None = None, episodes: int = 500,
                  seed: int = 0, num_envs: int = 1000, max_nights: int = 100) -> list[dict[str, Any]]:
    """Every scripted baseline on every scenario.

    Args:
        scenarios: scenario names, files or dicts (default: the twelve built-in scenarios).
        policies: policy names of :data:`~.agents.POLICY_NAMES` (default: all ten).
        episodes: episodes per (scenario, policy) cell (500 takes about ten seconds for the full table).
        seed: root seed; the table is reproducible from it.
        num_envs: parallel envs per batch.
        max_nights: truncation cap.

    Returns:
        One dict per cell with :data:`COLUMNS`: ``mean`` / ``ci_low`` / ``ci_high`` / ``std`` of the
        team reward per night, and the means of ``nights``, ``houses_saved_fraction``, ``work_fraction``.
    """
    for key, value, low in (("episodes", episodes, 2), ("num_envs", num_envs, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(key, value, f"must be an integer >= {low}")
    scenarios = list_scenarios() if scenarios is None else list(scenarios)
    policies = list(POLICY_NAMES) if policies is None else list(policies)
    for p in policies:
        if not isinstance(p, str) or p not in POLICY_NAMES:
            raise ConfigError("policies", p, f"unknown scripted policy; valid names are {list(POLICY_NAMES)}")
    rows = []
    for scenario in scenarios:
        name = load_scenario(scenario).name
        for policy in policies:
            m = run_cell(scenario, policy, int(episodes), seed=seed, num_envs=int(num_envs), max_nights=max_nights)
            per_night = m["team_reward_per_night"]
            mean, low, high = mean_ci(per_night)
            rows.append({"scenario": name, "policy": policy, "episodes": int(per_night.size), "mean": mean,
                         "ci_low": low, "ci_high": high, "std": float(per_night.std(ddof=1)),
                         "nights": float(m["nights"].mean()),
                         "houses_saved_fraction": float(m["houses_saved_fraction"].mean()),
                         "work_fraction": float(m["work_fraction"].mean())})
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table: one row per scenario, one column per policy, cells ``mean ± CI half-width``."""
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    cell = {(r["scenario"], r["policy"]): r for r in rows}
    lines = ["| scenario | " + " | ".join(policies) + " |", "|---|" + "---:|" * len(policies)]
    for s in scenarios:
        cells = []
        for p in policies:
            r = cell.get((s, p))
            cells.append("" if r is None else f"{r['mean']:.1f} ± {(r['ci_high'] - r['ci_low']) / 2:.1f}")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV (one line per cell, all :data:`COLUMNS`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_table(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the rows to ``path``: CSV if it ends in ``.csv``, otherwise Markdown. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = format_csv(rows) if path.suffix.lower() == ".csv" else format_table(rows)
    path.write_text(text, encoding="utf-8")
    return path
