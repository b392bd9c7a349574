"""evo-marl's envs as plain PettingZoo envs, under whichever PettingZoo (>= 1.24) is installed.

The default suite runs this file under the shared venv's PettingZoo; ``make test-compat``
(scripts/test_pettingzoo_compat.sh) runs it again under the oldest supported releases.
"""

from __future__ import annotations

import importlib
import warnings

import gymnasium.vector
import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import evo_marl
from evo_marl.envs import pz_compat

FAMILIES = ("atc", "bucket_brigade", "tiny")
ENV_IDS = [env_id for family in FAMILIES for env_id in evo_marl.list_envs(family)]
PETTINGZOO_IDS = {"evo_marl/ATC-v0": ("atc", "head_on", "parallel"),
                  "evo_marl/BucketBrigade-v0": ("bucket_brigade", "default", "easy")}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_scenario_passes_the_parallel_api_test(env_id):
    parallel_api_test(evo_marl.make_env(env_id), num_cycles=60)


@pytest.mark.parametrize("env_id", ["atc/head_on", "atc/random", "bucket_brigade/default", "tiny/coop_discrete"])
def test_seeded_envs_are_deterministic_by_pettingzoos_own_check(env_id):
    parallel_seed_test(lambda: evo_marl.make_env(env_id))


def test_registry_detection_matches_the_installed_release():
    """The registry arrived in 1.27; before that, evo-marl must not touch ``pettingzoo.parallel_registry``."""
    assert pz_compat.PETTINGZOO_VERSION == pettingzoo.__version__
    assert pz_compat.HAS_ENV_REGISTRY == (_version(pettingzoo.__version__) >= (1, 27))
    assert _version(pettingzoo.__version__) >= (1, 24), "evo-marl supports pettingzoo >= 1.24"


@pytest.mark.skipif(not pz_compat.HAS_ENV_REGISTRY, reason="this PettingZoo has no env registry (< 1.27)")
@pytest.mark.parametrize("pz_id", sorted(PETTINGZOO_IDS))
def test_pettingzoo_make_builds_the_registered_envs(pz_id):
    family, default, other = PETTINGZOO_IDS[pz_id]
    for kwargs, scenario in (({}, default), ({"scenario": other}, other)):
        env, same = pettingzoo.make("parallel", pz_id, **kwargs), evo_marl.make_env(f"{family}/{scenario}")
        assert env.possible_agents == same.possible_agents
        obs, _ = env.reset(seed=5)
        expected, _ = same.reset(seed=5)
        for agent in same.possible_agents:
            np.testing.assert_array_equal(obs[agent], expected[agent])
    parallel_api_test(env, num_cycles=30)


@pytest.mark.skipif(not pz_compat.HAS_ENV_REGISTRY, reason="this PettingZoo has no env registry (< 1.27)")
def test_reimporting_a_family_registers_without_an_override_warning():
    import evo_marl.envs.atc as atc

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(atc)
    assert pz_compat.register_parallel_env(atc.PETTINGZOO_ID, "evo_marl.envs.atc:parallel_env") is True


@pytest.mark.skipif(pz_compat.HAS_ENV_REGISTRY, reason="this PettingZoo has an env registry (>= 1.27)")
def test_without_a_registry_nothing_is_registered_and_make_env_still_works():
    assert not hasattr(pettingzoo, "parallel_registry")
    assert pz_compat.register_parallel_env("evo_marl/ATC-v0", "evo_marl.envs.atc:parallel_env") is False
    assert evo_marl.make_env("atc/head_on").possible_agents == ["A1", "A2"]


@pytest.mark.skipif(hasattr(gymnasium.vector, "AutoresetMode"), reason="gymnasium >= 1.1 runs tests/test_gym_adapter.py")
def test_the_gym_family_names_the_gymnasium_it_needs():
    with pytest.raises(evo_marl.EnvError, match=r"needs gymnasium >= 1\.1 \(found 0\."):
        evo_marl.make_env("gym/CartPole-v1")


def test_a_short_experiment_runs_end_to_end(tmp_path):
    """The trainer, evaluation, checkpoints and CSV on this PettingZoo / Gymnasium / NumPy."""
    from evo_marl.config import load_config
    from evo_marl.experiment import run_experiment

    config = load_config({
        "name": "compat", "seed": 0, "algo": "MATD3", "population_size": 2,
        "env": {"id": "atc/head_on", "num_envs": 2}, "net_config": {"hidden_size": [16]},
        "init_hp": {"BATCH_SIZE": 16, "LEARN_STEP": 4},
        "training": {"max_steps": 200, "evo_steps": 100, "eval_loop": 1, "learning_delay": 20},
        "output": {"root": str(tmp_path), "plots": False},
    })
    pop, history, run_dir = run_experiment(config, verbose=False)
    assert len(history) == 2 and all(len(fitnesses) == 2 for fitnesses in history)
    rows = (run_dir / "generations.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("generation,")
    reloaded = evo_marl.load_population(next(run_dir.rglob("generation_00002")))
    assert len(reloaded) == 2 and reloaded[0].agent_ids == pop[0].agent_ids
