"""``train_league``: population training where every game's seats are filled by a matchmaker.

The generation loop, evaluation (self-play teams: each member in every seat), writers, stopping,
selection, mutation and checkpoints are the shared :class:`~evo_marl.training.runner.EvolutionRunner`'s;
the league adds its phase (on- or off-policy), the league table (saved in every checkpoint manifest, so a
resumed run continues exactly) and ``league.csv`` (per generation and member: games, ratings, league return).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from evo_marl.errors import ConfigError
from evo_marl.league.config import LeagueConfig
from evo_marl.league.league import League, layout_of
from evo_marl.training import common
from evo_marl.training.stopping import StoppingCriterion

logger = logging.getLogger(__name__)
LEAGUE_CSV = "league.csv"
CSV_COLUMNS = ("generation", "member", "kind", "parent", "games", "generation_games", "league_return", "mu", "sigma",
               "ordinal")


class LeagueWriter:
    """Rewrites ``<run_dir>/league.csv`` from the league table after every generation (resume-safe)."""

    def __init__(self, league: League, run_dir: Path):
        self.league, self.path = league, Path(run_dir) / LEAGUE_CSV

    def write_generation(self, record) -> None:
        rows = []
        for key, stats in self.league.table.members.items():
            returns = {int(g): (r, n) for g, r, n in stats.return_history}
            games = 0
            for generation, mu, sigma in stats.rating_history:
                ret, count = returns.get(int(generation), (float("nan"), 0))
                games += count
                rows.append({"generation": int(generation), "member": key, "kind": stats.kind, "parent": stats.parent,
                             "games": games, "generation_games": count, "league_return": ret, "mu": mu,
                             "sigma": sigma, "ordinal": mu - 3 * sigma})
        rows.sort(key=lambda r: (r["generation"], r["member"]))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)

    def close(self) -> None:
        pass


def train_league(
    env, env_name: str, algo: str, pop: list, league: LeagueConfig | dict | None = None, memory=None,
    INIT_HP: dict | None = None, MUT_P: dict | None = None, max_steps: int = 50_000, evo_steps: int = 2_500,
    eval_steps: int | None = None, eval_loop: int = 1, target: float | None = None, tournament=None, mutation=None,
    checkpoint: bool | int | None = True, run_dir: str | Path | None = None, overwrite_checkpoints: bool = False,
    wb: bool = False, verbose: bool = True, *, seed: int | None = None, resume: bool = False,
    keep_checkpoints: int | None = 3, stopping: list[StoppingCriterion] | None = None, writers: list | None = None,
    wandb_kwargs: dict | None = None, config: dict | None = None, learning_delay: int = 0,
    save_buffer: bool = True, memory_size: int = 100_000,
) -> tuple[list, list[list[float]], League]:
    """Train ``pop`` as a league (see the module docstring); returns ``(population, fitnesses, league)``.

    Args:
        env: a ``VectorEnv`` with ``num_envs`` or ``population x num_envs`` games (all seats learner-controlled).
        league: a :class:`LeagueConfig` (or its fields as a dict; None: the defaults).
        memory: off-policy members: a :class:`~evo_marl.league.off_policy.LeagueReplayBuffer` (None: one of
            ``memory_size`` transitions is built). learning_delay: transitions stored before learning starts.
        Every other argument as :func:`~evo_marl.training.on_policy.train_multi_agent_on_policy`; ``fitness``
        is the self-play evaluation (each member in every seat), what ``league.selection`` may replace.
    """
    from evo_marl.league.off_policy import LeagueOffPolicyPhase, LeagueReplayBuffer
    from evo_marl.league.on_policy import LeagueOnPolicyPhase

    if not pop:
        raise ConfigError("pop", pop, "must contain at least one member")
    cfg = league if isinstance(league, LeagueConfig) else LeagueConfig(**(league or {}))
    on_policy = pop[0].algo_name == "IPPO"
    if any(m.algo_name != pop[0].algo_name for m in pop) or str(algo).upper() != pop[0].algo_name:
        raise ConfigError("algo", algo, f"must match every member of the population ({pop[0].algo_name})")
    space = env.single_action_space(env.agents[0])
    league_obj = League(cfg, env.agents, layout_of(env), action_width=int(space.shape[0]) if space.shape else 1)
    if len(pop) + len(cfg.scripted) < 2:
        raise ConfigError("population_size", len(pop), "a league needs at least two members (learned or scripted)")
    if not on_policy and memory is None:
        memory = LeagueReplayBuffer(memory_size, env.agents)
    if memory is not None and not isinstance(memory, LeagueReplayBuffer):
        raise ConfigError("memory", type(memory).__name__, "league training needs a LeagueReplayBuffer (it stores "
                                                           "the acting member of every seat)")
    init_hp = dict(INIT_HP or {})
    tournament = tournament or common.default_tournament(pop, init_hp, eval_loop)
    if cfg.selection != "fitness":
        tournament.score = league_obj.selection_score
    path = common.resolve_run_dir(run_dir, env_name, algo, resume, overwrite_checkpoints)
    holder: dict[str, Any] = {}

    def make_phase(vec_env, num_envs, entropy):
        if on_policy:
            steps = cfg.rollout_steps or pop[0].learn_step
            phase = LeagueOnPolicyPhase(vec_env, num_envs, evo_steps, entropy, league_obj, steps)
        else:
            phase = LeagueOffPolicyPhase(vec_env, num_envs, evo_steps, entropy, league_obj, memory, learning_delay)
        return _Saving(phase, league_obj, holder)

    def restore(manifest: dict[str, Any]) -> None:
        if "league" not in manifest:
            raise ConfigError("resume", str(path), "the checkpoint holds no league state (it is not a league run)")
        league_obj.load_state_dict(manifest["league"])
        holder.update(manifest["league"])

    pop, history = common.train_population(
        env, env_name, algo, pop, make_phase, memory=memory, INIT_HP=init_hp, MUT_P=MUT_P,
        net_config=pop[0].net_config, max_steps=max_steps, evo_steps=evo_steps, eval_steps=eval_steps,
        eval_loop=eval_loop, target=target, tournament=tournament, mutation=mutation, checkpoint=checkpoint,
        run_dir=path, overwrite_checkpoints=False, wb=wb, verbose=verbose, seed=seed, resume=resume,
        save_buffer=save_buffer and not on_policy, keep_checkpoints=keep_checkpoints, stopping=stopping,
        writers=[LeagueWriter(league_obj, path), *(writers or [])], wandb_kwargs=wandb_kwargs, config=config,
        manifest_extra={"league": holder}, on_resume=restore)
    return pop, history, league_obj


class _Saving:
    """The league phase, then the league state copied into the dict the checkpoint manifest saves."""

    def __init__(self, phase, league: League, holder: dict):
        self.phase, self.league, self.holder = phase, league, holder

    def __call__(self, population, generation):
        result = self.phase(population, generation)
        self.holder.clear()
        self.holder.update(self.league.state_dict())
        return result
