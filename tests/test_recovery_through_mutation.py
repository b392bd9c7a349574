"""Evolution earns its keep on the tiny env: a population that starts with a learning rate too small to learn
recovers through hyperparameter mutation and selection, for every algorithm; without selection and mutation
(the control, marked slow) the same population stays where it started."""

from __future__ import annotations

import numpy as np
import pytest

from evo_marl import (HyperparameterConfig, MultiAgentReplayBuffer, Mutations, NoSelection, RLParameter,
                      TournamentSelection, best_member, create_population, make_vec_env, train_multi_agent_off_policy,
                      train_multi_agent_on_policy)

BAD_LR = 1e-5  # good values are 1e-4 .. 1e-2 here
THRESHOLD = -0.5  # optimum 0; a random policy scores about -8.7, a population at BAD_LR about -3.3
CASES = [("MADDPG", 3000), ("MATD3", 3000), ("IPPO", 4000)]


def _run(algo: str, max_steps: int, selection, tmp_path):
    env = make_vec_env("tiny/coop_box", num_envs=8, seed=1)
    if algo == "IPPO":
        lr_name, hp = "lr", {"LR": BAD_LR, "LEARN_STEP": 128, "BATCH_SIZE": 64, "GAMMA": 0.9}
    else:
        lr_name, hp = "lr_actor", {"LR_ACTOR": BAD_LR, "LR_CRITIC": 3e-3, "LEARN_STEP": 8, "BATCH_SIZE": 64,
                                   "GAMMA": 0.9}
    space = HyperparameterConfig(**{lr_name: RLParameter(1e-5, 1e-2, grow_factor=10, shrink_factor=0.1, scale="log")})
    pop = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [32, 32]},
                            {**hp, "AGENT_IDS": env.agents}, hp_config=space, population_size=4, num_envs=8, seed=1)
    kwargs = dict(max_steps=max_steps, evo_steps=500, eval_loop=16, tournament=selection, seed=1, verbose=False,
                  mutation=Mutations(no_mutation=0, architecture=0, parameters=0, rl_hp=1.0), run_dir=tmp_path)
    if algo == "IPPO":
        pop, history = train_multi_agent_on_policy(env, "tiny", algo, pop, **kwargs)
    else:
        memory = MultiAgentReplayBuffer(50_000, ["obs", "action", "reward", "next_obs", "termination"],
                                        agent_ids=env.agents)
        pop, history = train_multi_agent_off_policy(env, "tiny", algo, pop, memory, learning_delay=256, **kwargs)
    return pop, history, lr_name


@pytest.mark.parametrize("algo,max_steps", CASES)
def test_a_population_with_a_bad_learning_rate_recovers_through_mutation(tmp_path, algo, max_steps):
    pop, history, lr_name = _run(algo, max_steps, TournamentSelection(2, True, 4), tmp_path)
    assert max(history[0]) < -2.0, f"the initial learning rate should be too small to learn: {history[0]}"
    assert max(history[-1]) > THRESHOLD, f"{algo} did not recover: best per generation {[max(h) for h in history]}"
    winner = best_member(pop)
    assert getattr(winner, lr_name) >= 10 * BAD_LR, "the recovered member's learning rate was mutated upwards"
    assert np.isfinite(history).all()


@pytest.mark.slow
@pytest.mark.parametrize("algo,max_steps", CASES)
def test_without_selection_and_mutation_the_same_population_does_not_recover(tmp_path, algo, max_steps):
    pop, history, lr_name = _run(algo, max_steps, NoSelection(), tmp_path)
    assert max(history[-1]) < -2.0 and all(getattr(m, lr_name) == BAD_LR for m in pop)
