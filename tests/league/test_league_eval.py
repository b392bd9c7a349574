"""Multi-scenario envs, cross-play / ad-hoc / free-rider evaluation, plots, config and CLI of the league."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("openskill")

from evo_marl.envs.bucket_brigade.baselines import run_cell  # noqa: E402
from evo_marl.envs.bucket_brigade.observation import scenario_features  # noqa: E402
from evo_marl.envs.bucket_brigade.scenarios import load_scenario  # noqa: E402
from evo_marl.errors import ConfigError  # noqa: E402
from evo_marl.league import MultiScenarioVecEnv  # noqa: E402
from evo_marl.league.crossplay import crossplay, play_lineup, self_play  # noqa: E402


def _features(obs: np.ndarray, env) -> np.ndarray:
    return obs[:, env.layout.slices["scenario"]]


def test_mixed_env_splits_games_among_scenarios_and_steps_them_together():
    env = MultiScenarioVecEnv(["default", "hard", "easy"], 7, "mixed", seed=0)
    obs, infos = env.reset(seed=1)
    feats = _features(obs["agent_0"], env)
    want = [scenario_features(load_scenario(s)) for s in ["default"] * 3 + ["hard"] * 2 + ["easy"] * 2]
    assert np.allclose(feats, np.stack(want))
    actions = {a: np.zeros((7, 2), np.int64) for a in env.agents}
    ended = np.zeros(7, bool)
    for _ in range(40):
        obs, rew, term, trunc, infos = env.step(actions)
        assert rew["agent_0"].shape == (7,) and infos["final_mask"].shape == (7,)
        if infos["final_mask"].any():
            assert np.isfinite(infos["episode"]["nights"][infos["final_mask"]]).all()
        ended |= infos["final_mask"]
    assert ended.all()
    box = env.single_observation_space("agent_0")
    assert box.contains(obs["agent_0"][0]) and box.contains(obs["agent_0"][4])


def test_sequence_env_moves_through_scenarios_and_spawned_envs_follow():
    env = MultiScenarioVecEnv(["default", "rest_trap"], 4, "sequence", generations_per_scenario=2, seed=0)
    evaluation = env.spawn(3)
    stages = []
    for generation in range(1, 6):
        env.set_generation(generation)
        obs, _ = evaluation.reset(seed=0)
        stages.append(env.current_scenarios[0])
        assert np.allclose(_features(obs["agent_0"], env)[0],
                           scenario_features(load_scenario(env.current_scenarios[0])))
    assert stages == ["default", "default", "rest_trap", "rest_trap", "default"]


def test_mixed_env_needs_a_game_per_scenario_and_matching_sizes():
    with pytest.raises(ConfigError, match="num_envs"):
        MultiScenarioVecEnv(["default", "hard", "easy"], 2, "mixed")
    with pytest.raises(ConfigError, match="league.scenario_mode"):
        MultiScenarioVecEnv(["default"], 2, "shuffled")


def test_scripted_lineups_reproduce_the_baselines():
    res = play_lineup(["all_work"] * 4, "default", episodes=2000, seed=0)
    base = run_cell("default", "all_work", 2000, seed=0)["team_reward_per_night"]
    assert abs(res.per_night.mean() - base.mean()) < 4.0  # independent samples, both ~380 ± 1.7
    assert res.returns.shape == (2000, 4) and (res.nights >= 13).all()


def test_free_rider_detection_flags_resting_and_not_working_rows():
    cp = crossplay(["always_rest", "all_work"], ["all_work"], "default", row_seats=1, episodes=400, seed=0)
    rest, work = 0, 1
    assert cp.work_share[rest, 0] == 0.0 and cp.free_riders[rest, 0]
    assert abs(cp.work_share[work, 0] - 0.25) < 0.03 and not cp.free_riders[work, 0]
    assert cp.reward_share[rest, 0] > 0.25  # it pockets the rest bonus while the others pay to work
    assert cp.mean[work, 0] > cp.mean[rest, 0]
    assert "| always_rest | all_work |" in cp.free_rider_markdown()


def test_crossplay_matrix_with_a_learned_member(tmp_path):
    from evo_marl import create_population, make_vec_env

    env = make_vec_env("bucket_brigade/default", num_envs=2, seed=0)
    pop = create_population("IPPO", [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [8]},
                            {"SHARE_PARAMS": True, "LEARN_STEP": 4, "AGENT_IDS": env.agents}, population_size=2, seed=0)
    cp = crossplay(pop, pop + ["all_work"], row_seats=2, episodes=40)
    assert cp.mean.shape == (2, 3) and np.isfinite(cp.mean).all() and (cp.half > 0).all()
    assert all(member.training for member in pop)  # played without exploration, then back to training mode
    solo = self_play(pop[:1], episodes=40)
    assert set(solo) == {"m0"}
    from evo_marl.league.plots import plot_heatmap

    png = plot_heatmap(cp.mean, cp.rows, cp.cols, tmp_path / "h.png", ci=cp.half)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_league_config_section_and_cli_crossplay(tmp_path, capsys):
    from evo_marl.cli import main
    from evo_marl.config import load_config

    with pytest.raises(ConfigError, match="league.matchmaker"):
        load_config({"env": {"id": "bucket_brigade/default"}, "league": {"matchmaker": "swiss"}})
    run = tmp_path / "run"
    args = ["train", "configs/bucket_brigade_league.yaml", "--run-dir", str(run), "--quiet",
            "--set", "population_size=4", "--set", "env.num_envs=2", "--set", "training.max_steps=64",
            "--set", "training.evo_steps=32", "--set", "training.eval_loop=2", "--set", "init_hp.LEARN_STEP=16",
            "--set", "init_hp.BATCH_SIZE=16", "--set", "league.scripted=[all_work]",
            "--set", "league.scenarios=[default, rest_trap]", "--set", "net_config.hidden_size=[8]"]
    assert main(args) == 2  # the config's grow-only bounds (2 layers of >= 64) rule out a smaller start ...
    assert "min_hidden_layers=2" in capsys.readouterr().err
    args += ["--set", "net_config.min_hidden_layers=1", "--set", "net_config.min_mlp_nodes=8"]  # ... unless lowered
    assert main(args) == 0
    assert (run / "league.csv").exists() and (run / "ratings.png").exists()
    assert main(["crossplay", str(run), "--episodes", "8", "--partners", "all_work", "coordinator"]) == 0
    out = capsys.readouterr().out
    assert "Ad-hoc teams" in out and "Free-riding" in out
    data = json.loads((run / "crossplay" / "crossplay.json").read_text())
    assert data["scenario"] == "default" and len(data["adhoc"]["rows"]) == 4
    assert (run / "crossplay" / "crossplay.png").exists()


def test_members_trained_with_env_options_play_with_them(tmp_path):
    from evo_marl import create_population, make_vec_env

    env = make_vec_env("bucket_brigade/default", num_envs=2, seed=0, fire_ranks=True, reward_sharing=1.0)
    pop = create_population("IPPO", [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [8]},
                            {"SHARE_PARAMS": True, "AGENT_IDS": env.agents}, population_size=1, num_envs=2, seed=0)
    with pytest.raises(ConfigError, match="fire_ranks") as err:
        play_lineup(pop * 4, "default", episodes=4, seed=0)  # the plain env: another observation space
    assert err.value.field == "env_kwargs"
    options = {"fire_ranks": True, "reward_sharing": 1.0}  # a run's env.kwargs: sharing is not a play option
    res = play_lineup(pop * 4, "default", episodes=4, seed=0, env_kwargs=options)
    assert res.per_night.shape == (4,)
    cp = crossplay(pop, ["all_work"], "default", row_seats=1, episodes=4, env_kwargs=options)
    assert np.isfinite(cp.mean).all() and set(self_play(pop, episodes=4, env_kwargs=options)) == {"m0"}
    with pytest.raises(ConfigError, match="env_kwargs"):
        play_lineup(["all_work"] * 4, "default", episodes=4, env_kwargs=["fire_ranks"])


def test_members_with_a_signal_bit_play_with_it():
    from evo_marl import create_population, make_vec_env

    env = make_vec_env("bucket_brigade/default", num_envs=2, seed=0, signal_bit=True)
    pop = create_population("IPPO", [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [8]},
                            {"SHARE_PARAMS": True, "AGENT_IDS": env.agents}, population_size=1, num_envs=2, seed=0)
    with pytest.raises(ConfigError, match="action space"):
        play_lineup(pop * 2 + ["liar"] * 2, "default", episodes=4, seed=0)
    res = play_lineup(pop * 2 + ["liar"] * 2, "default", episodes=8, seed=0, env_kwargs={"signal_bit": True})
    assert res.work.shape == (8, 4) and np.isfinite(res.per_night).all()



def test_scripted_lineups_play_the_same_games_in_the_egocentric_frame():
    lineup = ["firefighter", "all_work", "coordinator", "hero"]
    plain = play_lineup(lineup, "hard", episodes=32, seed=3)
    ego = play_lineup(lineup, "hard", episodes=32, seed=3, env_kwargs={"egocentric": True})
    np.testing.assert_array_equal(ego.returns, plain.returns)
    np.testing.assert_array_equal(ego.work, plain.work)
    assert plain.per_night.std() > 0
