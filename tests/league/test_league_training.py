"""League training: matchmaking, own-seat learning, ratings, selection keys, checkpoints and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("openskill")

from evo_marl import create_population, make_vec_env  # noqa: E402
from evo_marl.errors import CheckpointError, ConfigError  # noqa: E402
from evo_marl.league import LeagueConfig, train_league  # noqa: E402
from evo_marl.league.matchmaking import make_matchmaker  # noqa: E402
from evo_marl.league.off_policy import LeagueReplayBuffer  # noqa: E402
from evo_marl.league.on_policy import LeagueOnPolicyPhase  # noqa: E402
from evo_marl.training.settings import RunSettings  # noqa: E402


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """Runs without a ``run_dir`` write to ``populations/`` of the working directory: keep them out of the repo."""
    monkeypatch.chdir(tmp_path)


def bb_population(algo="IPPO", size=4, num_envs=4, seed=0, share=True, **hp):
    env = make_vec_env("bucket_brigade/default", num_envs=num_envs, seed=seed)
    init = ({"LEARN_STEP": 8 * num_envs, "BATCH_SIZE": 32} if algo == "IPPO" else
            {"LEARN_STEP": 4, "BATCH_SIZE": 32, "REWARD_SCALE": 0.01})
    init.update(hp, SHARE_PARAMS=share, AGENT_IDS=env.agents)
    pop = create_population(algo, [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [16]}, init,
                            population_size=size, num_envs=num_envs, seed=seed)
    return env, pop


def league_run(env, pop, cfg, memory=None, selection=None, **settings):
    """``train_league`` with RunSettings from keywords (checkpoints off and quiet unless given)."""
    settings = {"env_name": "bb", "checkpoint": False, "verbose": False, "eval_loop": 2, "seed": 0, **settings}
    return train_league(env, pop, RunSettings(**settings), cfg, memory=memory, selection=selection)


def weights(pop):
    return [torch.cat([p.detach().flatten() for n in m.networks.values() for p in n.parameters()]) for m in pop]


# ---------------------------------------------------------------------------------------------- matchmaking
def test_round_robin_plays_every_member_equally_often_in_every_seat():
    mm = make_matchmaker("round_robin", 6, 4, np.random.default_rng(0))
    games = np.concatenate([mm.fill(n) for n in [5, 1, 7, 3, 9, 11] * 10])
    assert all(len(set(g)) == 4 for g in games)
    counts = np.bincount(games.ravel(), minlength=6)
    assert counts.max() - counts.min() <= 4, counts
    per_seat = np.stack([np.bincount(games[:, s], minlength=6) for s in range(4)])
    assert per_seat.min() > 0.6 * per_seat.mean()


def test_random_matchmaker_draws_distinct_members_uniformly():
    games = make_matchmaker("random", 8, 4, np.random.default_rng(1)).fill(4000)
    assert all(len(set(g)) == 4 for g in games[:200])
    counts = np.bincount(games.ravel(), minlength=8) / games.size
    assert np.allclose(counts, 1 / 8, atol=0.01)


def test_close_ratings_matchmaker_prefers_teammates_of_similar_rating():
    mu = np.array([10, 10, 10, 10, 40, 40, 40, 40.0])
    close = make_matchmaker("close_ratings", 8, 4, np.random.default_rng(2), width=5.0).fill(500, mu)
    rand = make_matchmaker("random", 8, 4, np.random.default_rng(2)).fill(500, mu)

    def mixed(games):  # share of games with members from both rating groups
        return np.mean([(g < 4).any() and (g >= 4).any() for g in games])

    assert mixed(close) < 0.1 < 0.8 < mixed(rand)
    assert np.bincount(close.ravel(), minlength=8).min() > 0  # everyone still plays


def test_bad_league_settings_name_the_field():
    with pytest.raises(ConfigError, match="league.matchmaker"):
        LeagueConfig(matchmaker="elo")
    with pytest.raises(ConfigError, match="league.scripted"):
        LeagueConfig(scripted=["superhero"])
    with pytest.raises(ConfigError, match="league.selection"):
        LeagueConfig(selection="age")


# ---------------------------------------------------------------------------------------------- own seats
def test_ippo_members_learn_only_from_the_seats_they_played(monkeypatch):
    env, pop = bb_population()
    seen = {}
    from evo_marl.algorithms.ippo import IPPO

    original_update = IPPO.update

    def spy(self, batch):
        seen.setdefault(self.index, []).append(batch)
        return original_update(self, batch)

    monkeypatch.setattr(IPPO, "update", spy)
    captured = {}
    original_learn = LeagueOnPolicyPhase._learn_all

    def learn_all(self, population, losses):
        a, p = self._arrays, self.pos
        captured.setdefault("cells", []).append(
            [(a["owner"][:p] == k) & a["active"][:p] for k in range(len(population))])
        captured.setdefault("obs", []).append(a["obs"][:p].copy())
        return original_learn(self, population, losses)

    monkeypatch.setattr(LeagueOnPolicyPhase, "_learn_all", learn_all)
    league_run(env, pop, {"scripted": ["all_work"]}, max_steps=64, evo_steps=64)
    rollouts = len(captured["cells"])
    assert rollouts >= 2
    for k in range(4):
        assert len(seen[k]) == rollouts
        for batch, cells, obs in zip(seen[k], captured["cells"], captured["obs"]):
            assert int(batch.active.sum()) == int(cells[k].sum()) > 0
            mine = obs[cells[k]]  # the member's own observations, in rollout order
            got = batch.obs[next(iter(batch.obs))].reshape(-1, obs.shape[-1])[batch.active.reshape(-1)].numpy()
            assert np.array_equal(np.sort(got, axis=0), np.sort(mine, axis=0))
    # the scripted member's seats are in no learner's batches
    all_cells = sum(int(c[k].sum()) for c in captured["cells"] for k in range(4))
    total = sum(c[0].size for c in captured["cells"])
    assert all_cells < total


def test_replay_buffer_samples_only_the_members_rows_and_seats():
    agents = ["agent_0", "agent_1"]
    buf = LeagueReplayBuffer(100, agents, seed=0)
    n = 40
    member = {"agent_0": np.arange(n) % 4, "agent_1": (np.arange(n) + 1) % 4}
    ones = {a: np.ones((n, 3), np.float32) for a in agents}
    buf.save_to_memory(ones, ones, {a: np.zeros(n, np.float32) for a in agents}, ones,
                       {a: np.zeros(n, bool) for a in agents}, {a: np.ones(n, bool) for a in agents}, member,
                       is_vectorised=True)
    batch = buf.sample_member({2}, 10)
    m0, m1 = batch.member["agent_0"].numpy(), batch.member["agent_1"].numpy()
    assert ((m0 == 2) | (m1 == 2)).all()
    assert np.array_equal(batch.active["agent_0"].numpy(), m0 == 2)
    assert np.array_equal(batch.active["agent_1"].numpy(), m1 == 2)
    assert buf.sample_member({7}, 1) is None


@pytest.mark.parametrize("algo", ["MATD3", "MADDPG"])
def test_off_policy_league_trains_and_tags_every_transition(algo):
    env, pop = bb_population(algo, size=4)
    memory = LeagueReplayBuffer(5000, env.agents)
    pop, history, league = league_run(env, pop, {"scripted": ["coordinator"]}, memory=memory, max_steps=160,
                                      evo_steps=80, learning_delay=64)
    assert len(history) == 2 and all(np.isfinite(h).all() for h in history)
    tags = np.concatenate([memory._data["member"][a][:len(memory)] for a in env.agents])
    assert (tags == -1).any() and (tags >= 0).any()  # scripted and learned seats
    assert all(m.learn_counter > 0 for m in pop)
    assert league.table.members["s:coordinator"].games > 0


# ---------------------------------------------------------------------------------------------- ratings, selection
def test_table_counts_games_and_rates_a_clearly_better_scripted_member_highest():
    env, pop = bb_population(size=4)
    _, _, league = league_run(env, pop, {"scripted": ["all_work", "always_rest"]}, max_steps=200, evo_steps=200)
    members = league.table.members
    games = {k: s.games for k, s in members.items()}
    assert all(g > 0 for g in games.values())
    learned = [k for k, s in members.items() if s.kind == "learned"]
    assert max(games[k] for k in learned) - min(games[k] for k in learned) <= 4  # round robin
    assert members["s:all_work"].mu > members["s:always_rest"].mu
    assert members["s:all_work"].mu == max(s.mu for s in members.values())
    hist = members["s:all_work"].return_history
    assert len(hist) == 1 and hist[0][1] > members["s:always_rest"].return_history[0][1]


@pytest.mark.parametrize("key", ["rating", "league_return"])
def test_selection_can_rank_by_rating_or_league_return(key):
    env, pop = bb_population(size=4)
    ranked = {}
    from evo_marl.hpo.tournament import TournamentSelection

    class Spy(TournamentSelection):
        def select(self, population, fitness=None):
            ranked["scores"] = {m.index: f for m, f in zip(population, fitness)}
            elite, new = super().select(population, fitness)
            ranked["elite"] = elite.index
            return elite, new

    tournament = Spy(2, True, 4)
    _, _, league = league_run(env, pop, {"selection": key, "scripted": ["specialist"]}, selection=tournament,
                              max_steps=200, evo_steps=100)
    scores = ranked["scores"]
    assert ranked["elite"] == max(scores, key=scores.get)
    assert len(set(scores.values())) > 1 and all(np.isfinite(v) for v in scores.values())
    if key == "league_return":  # selection (after generation 1) ranked by the league return of generation 1
        for index, value in scores.items():
            assert value == league.table.members[f"m{index}"].return_history[0][1]


def test_clones_inherit_their_parents_rating():
    env, pop = bb_population(size=4)
    _, _, league = league_run(env, pop, {}, max_steps=100, evo_steps=50)
    members = league.table.members
    clones = [(k, s) for k, s in members.items() if s.parent is not None and s.parent != k]
    assert clones
    key, stats = clones[0]
    parent = members[stats.parent]
    first = stats.rating_history[0]
    assert first[0] == 2 and parent.rating_history[0][0] == 1
    assert stats.sigma <= parent.rating_history[0][2] + 1e-9


# ---------------------------------------------------------------------------------------------- checkpoints
def _league_run(tmp_path, name, max_steps, resume=False, seed=3):
    env, pop = bb_population(size=4, seed=seed)
    cfg = {"scripted": ["all_work"], "matchmaker": "close_ratings", "selection": "rating"}
    return league_run(env, pop, cfg, max_steps=max_steps, evo_steps=64, seed=seed, run_dir=tmp_path / name,
                      resume=resume, checkpoint=True)


def test_resume_equals_uninterrupted_league_run(tmp_path):
    full_pop, full_hist, full_league = _league_run(tmp_path, "full", 192)
    _league_run(tmp_path, "split", 128)
    split_pop, split_hist, split_league = _league_run(tmp_path, "split", 192, resume=True)
    assert np.allclose(np.array(full_hist[-1]), np.array(split_hist[-1]))
    for a, b in zip(weights(full_pop), weights(split_pop)):
        assert torch.equal(a, b)
    full_state, split_state = full_league.table.state_dict(), split_league.table.state_dict()
    assert json.dumps(full_state) == json.dumps(split_state)
    assert all(s["games"] > 0 for s in full_state["members"].values())
    csv = (tmp_path / "split" / "league.csv").read_text().splitlines()
    assert csv[0].startswith("generation,member") and len(csv) > 10


def test_resume_refuses_another_league_configuration(tmp_path):
    _league_run(tmp_path, "run", 64)
    env, pop = bb_population(size=4, seed=3)
    with pytest.raises(CheckpointError, match="matchmaker"):
        league_run(env, pop, {"scripted": ["all_work"], "matchmaker": "random", "selection": "rating"},
                   max_steps=128, evo_steps=64, seed=3, run_dir=tmp_path / "run", resume=True, checkpoint=True)


def test_league_with_separate_networks_per_seat_trains():
    env, pop = bb_population(size=4, share=False)
    pop, history, _ = league_run(env, pop, {"matchmaker": "random"}, max_steps=64, evo_steps=64)
    assert all(m.learn_counter > 0 for m in pop) and np.isfinite(history[-1]).all()


def test_a_league_trains_over_scenarios_in_sequence(monkeypatch):
    from evo_marl.league import MultiScenarioVecEnv

    env = MultiScenarioVecEnv(["default", "rest_trap"], 4, "sequence", generations_per_scenario=1, seed=0)
    _, pop = bb_population(size=4)
    seen = []
    original = MultiScenarioVecEnv.set_generation

    def spy(self, generation):  # the league plays a widened copy of env, sharing its schedule
        original(self, generation)
        seen.append(self.current_scenarios[0])

    monkeypatch.setattr(MultiScenarioVecEnv, "set_generation", spy)
    _, history, league = league_run(env, pop, {"scripted": ["all_work"]}, max_steps=192, evo_steps=64)
    assert seen == ["default", "rest_trap", "default"] and len(history) == 3
    assert env.current_scenarios == ["default"]  # the schedule is shared with the env the caller holds
    assert len(league.table.members["s:all_work"].return_history) == 3


# ---------------------------------------------------------------------------------------------- env errors
class _FlakyGame:
    """Bucket Brigade as a PettingZoo env whose ``step`` raises in the 3rd night of games where ``fail``."""

    def __init__(self, fail: bool):
        from evo_marl.envs.bucket_brigade.views import parallel_env

        self.env, self.fail, self.t = parallel_env("default"), fail, 0

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, seed=None, options=None):
        self.t = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, actions):
        self.t += 1
        if self.fail and self.t == 3:
            raise ValueError("custom env bug")
        return self.env.step(actions)


@pytest.mark.parametrize("flaky", [False, True])
def test_games_cut_short_by_env_errors_are_not_scored(flaky, caplog):
    from evo_marl.envs.vector import SyncParallelVecEnv

    env = SyncParallelVecEnv(lambda: _FlakyGame(flaky), 4)  # training games; evaluation envs are flaky too
    pop = create_population("IPPO", [env.single_observation_space(a) for a in env.agents],
                            [env.single_action_space(a) for a in env.agents], {"hidden_size": [16]},
                            {"LEARN_STEP": 32, "BATCH_SIZE": 32, "SHARE_PARAMS": True, "AGENT_IDS": env.agents},
                            population_size=4, num_envs=1, seed=0)
    _, history, league = league_run(env, pop, LeagueConfig(), max_steps=200, evo_steps=200)
    games = sum(stats.games for stats in league.table.members.values())
    assert len(history) == 1, "the run goes on"
    if flaky:
        assert games == 0, "no game ever ended cleanly, so none is scored"
        assert "league game(s) ended early because their env raised" in caplog.text
        assert "ValueError: custom env bug" in caplog.text
    else:
        assert games > 0 and "ended early" not in caplog.text


def test_scripted_members_act_in_the_envs_house_frame():
    """In an ``egocentric`` env a scripted member's house (chosen in absolute terms) is written relative to the
    home of each seat it holds, so it plays the same game as in the plain env."""
    from evo_marl.league.league import League

    _, pop = bb_population(size=2)
    written = []
    for egocentric in (False, True):
        env = make_vec_env("bucket_brigade/hard", num_envs=16, seed=0, egocentric=egocentric)
        obs, _ = env.reset()
        league = League(LeagueConfig(scripted=["firefighter"]), env.agents, env.sim.layout)
        league.begin_generation(pop, 0, 16, entropy=1)
        league.assignment[:] = league.num_learned  # the scripted member holds every seat
        actions = np.full((16, 4, 2), -1, np.int64)
        league.scripted_actions(np.stack([obs[a] for a in env.agents], 1), actions)
        written.append(actions)
    plain, ego = written
    assert (plain >= 0).all() and len(np.unique(plain[..., 0])) > 3
    np.testing.assert_array_equal(ego[..., 1], plain[..., 1])
    np.testing.assert_array_equal(ego[..., 0], (plain[..., 0] - np.arange(4)) % 10)
