"""Bucket Brigade: a cooperative firefighting social dilemma, batched in NumPy.

N agents protect a ring of H houses from fire; each night every agent picks a house and WORKs (helps
put out a fire there, at a cost) or RESTs (small bonus), and everyone shares a team term for houses
that survive. See ``shared/specs/bucket_brigade.md`` for the rules and:

* :mod:`.scenarios` (twelve built-in scenarios as JSON data, users' own from files or dicts),
* :mod:`.rules` / :mod:`.parity` / :mod:`.simulator` (the batched rules, fast and parity modes),
* :mod:`.observation` (the documented observation layout),
* :mod:`.agents` (scripted agents, usable as baselines and as opponents filling seats),
* :mod:`.baselines` (the table of scripted baselines on every scenario).

Ids: ``evo_marl.make_env("bucket_brigade/default")``,
``evo_marl.make_vec_env("bucket_brigade/rest_trap", num_envs=4096, seed=0)`` and, through PettingZoo's
registry, ``pettingzoo.make("parallel", "evo_marl/BucketBrigade-v0")``.
"""

from __future__ import annotations

from evo_marl.envs.bucket_brigade.agents import POLICY_NAMES, make_policy
from evo_marl.envs.bucket_brigade.scenarios import Scenario, list_scenarios, load_scenario
from evo_marl.envs.bucket_brigade.simulator import BucketBrigadeSimulator
from evo_marl.envs.bucket_brigade.views import BucketBrigadeParallelEnv, BucketBrigadeVecEnv, parallel_env, vec_env
from evo_marl.envs.pz_compat import register_parallel_env
from evo_marl.envs.registry import EnvFamily, register_family

PETTINGZOO_ID = "evo_marl/BucketBrigade-v0"

__all__ = [
    "POLICY_NAMES", "PETTINGZOO_ID", "BucketBrigadeParallelEnv", "BucketBrigadeSimulator", "BucketBrigadeVecEnv",
    "Scenario", "list_scenarios", "load_scenario", "make_policy", "parallel_env", "vec_env",
]

register_family(EnvFamily("bucket_brigade", parallel_env, list_scenarios, make_vec_env=vec_env))

# pettingzoo.make("parallel", "evo_marl/BucketBrigade-v0", scenario=...) where PettingZoo has a registry (>= 1.27)
register_parallel_env(PETTINGZOO_ID, "evo_marl.envs.bucket_brigade:parallel_env", {"scenario": "default"})
