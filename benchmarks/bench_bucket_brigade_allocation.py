"""Where a Bucket Brigade team's workers go, by the number of fires a night starts with, next to `all_work`.

    python benchmarks/bench_bucket_brigade_allocation.py RUN_DIR [RUN_DIR ...] [--member 89 ...]
        [--scenario chain_reaction] [--episodes 1000] [--seed 5] [--out FILE.md]

Plays a member of each run's final generation (default: the best on 200 choosing episodes, as the scenario
bench picks it) in all four seats, with the env options it was trained with, and the homogeneous `all_work`
team from the same reset seed. For nights that start with 0, 1, 2, 3 and 4+ burning houses it reports how many
seats WORK, how many of them work on a burning house, how many distinct burning houses get at least one worker
and how often every seat works the same house. A shared policy that ranks the fires alike in every seat shows
up as two-fire nights with every seat on one house; idle work as workers on nights without fire.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from evo_marl.envs.bucket_brigade.agents import make_policy
from evo_marl.envs.bucket_brigade.scenarios import load_scenario
from evo_marl.envs.bucket_brigade.views import vec_env
from evo_marl.league.report import run_play_options, run_scenario
from evo_marl.training import checkpoint as ckpt
from bench_bucket_brigade_scenarios import candidate_teams
from results_file import write_results

BUCKETS = ("0", "1", "2", "3", "4+")


def allocation(act, scenario: str, options: dict, episodes: int, seed: int) -> dict:
    """Per fire-count bucket: nights, then per night workers, workers on fire, fires covered, all on one house;
    plus ``per_night`` (team reward per night). ``act(obs, env)`` returns the env actions."""
    env = vec_env(scenario, num_envs=episodes, seed=seed, **options)
    obs, _ = env.reset(seed=seed)
    done = np.zeros(episodes, bool)
    sums = np.zeros((len(BUCKETS), 5))
    total, nights = np.zeros(episodes), np.zeros(episodes)
    rows = np.arange(episodes)[:, None]
    for _ in range(env.sim.max_nights + 1):
        burning = env.sim.houses == 1
        bucket = np.minimum(burning.sum(axis=1), len(BUCKETS) - 1)
        actions = act(obs, env)
        chosen = np.stack([actions[a] for a in env.agents], axis=1)  # [E, S, width] in the env's frame
        loc = env.sim.layout.to_absolute_houses(chosen[..., 0], env.sim.learner_seats)
        work = chosen[..., 1] == 1
        obs, rewards, _, _, infos = env.step(actions)
        live = ~done
        on_fire = np.take_along_axis(burning, loc, axis=1) & work
        worked = np.zeros_like(burning)
        worked[np.broadcast_to(rows, loc.shape)[on_fire], loc[on_fire]] = True
        same = work.all(axis=1) & (loc == loc[:, :1]).all(axis=1)
        stats = np.stack([np.ones(episodes), work.sum(1), on_fire.sum(1), worked.sum(1), same], axis=1)
        np.add.at(sums, bucket[live], stats[live])
        total[live] += np.sum([rewards[a] for a in env.agents], axis=0)[live]
        nights[live] += 1
        done |= infos["final_mask"]
        if done.all():
            break
    return {"sums": sums, "per_night": float(np.mean(total / np.maximum(nights, 1)))}


def table(name: str, result: dict) -> list[str]:
    lines = [f"**{name}**: team reward per night {result['per_night']:.1f}", "",
             "| fires at dusk | nights | seats working | on a burning house | burning houses worked "
             "| all four on one house |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, (n, workers, on_fire, covered, same) in zip(BUCKETS, result["sums"]):
        if n:
            lines.append(f"| {label} | {n:,.0f} | {workers / n:.2f} | {on_fire / n:.2f} | {covered / n:.2f} | "
                         f"{same:,.0f} ({same / n:.0%}) |")
    return lines + [""]


def pick_member(run_dir: Path, scenario: str, index: int | None):
    """Member ``index`` of the run's final generation, or the best homogeneous team's member."""
    if index is None:
        return candidate_teams(scenario, run_dir, 10_000)[0].lineup[0]
    latest = ckpt.latest_generation(run_dir)
    members = {m.index: m for m in ckpt.load_population(latest)} if latest else {}
    if index not in members:
        raise SystemExit(f"--member {index}: the final generation of {run_dir} holds members {sorted(members)}")
    return members[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", type=Path, nargs="+", help="runs of one scenario (e.g. two frames side by side)")
    parser.add_argument("--member", type=int, nargs="+", default=None,
                        help="member index per run (default: each run's best homogeneous team)")
    parser.add_argument("--scenario", default=None, help="default: the scenario the first run trained on")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", default=None, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    if args.member is not None and len(args.member) != len(args.run_dirs):
        parser.error(f"--member: {len(args.member)} indices for {len(args.run_dirs)} runs")
    torch.set_num_threads(1)
    scenario = args.scenario or run_scenario(args.run_dirs[0])
    results = {}
    for i, run_dir in enumerate(args.run_dirs):
        member = pick_member(run_dir, scenario, None if args.member is None else args.member[i])
        member.set_training_mode(False)
        results[f"m{member.index} x 4 ({run_dir})"] = allocation(
            lambda obs, env, m=member: m.get_action(obs)[0], scenario, run_play_options(run_dir), args.episodes,
            args.seed)
    sizes = load_scenario(scenario)
    scripted = make_policy("all_work", range(sizes.num_agents), sizes.num_agents, sizes.num_houses,
                           rng=np.random.default_rng(args.seed))
    results["all_work x 4"] = allocation(lambda obs, env: scripted.act_on_observations(obs, env.sim.layout), scenario,
                                         {}, args.episodes, args.seed)
    lines = [f"# Worker allocation on {scenario} ({args.episodes} episodes, reset seed {args.seed})", "",
             f"Command: `python benchmarks/bench_bucket_brigade_allocation.py {' '.join(map(str, args.run_dirs))}"
             + (f" --member {' '.join(map(str, args.member))}" if args.member is not None else "")
             + f" --scenario {scenario} --episodes {args.episodes} --seed {args.seed}`", ""]
    for name, result in results.items():
        lines += table(name, result)
    print("\n".join(lines))
    if args.out:
        write_results(args.out, lines)


if __name__ == "__main__":
    main()
