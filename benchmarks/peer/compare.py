"""Side-by-side training throughput of AgileRL 2.58 and evo-marl on the same settings, and how it scales.

    bash benchmarks/peer/run.sh                         # build the AgileRL venv if needed, run everything
    .venv-agilerl/bin/python benchmarks/peer/compare.py [--only headline|scaling] [--pops 4 8 16 32]
        [--steps 10000] [--scaling-steps 4800] [--out benchmarks/results/peer_comparison.md]

Run inside the AgileRL venv (``setup_agilerl_venv.sh``), where both libraries import. Every measurement
is a fresh process (``sides.py``); the two sides of each setting run back to back, AgileRL first, so
both see the same machine conditions (the load average before each is recorded: on a shared machine
the absolute rates move with other people's work, the ratios much less).

* headline: MADDPG, population 4 x 8 envs, batch 64, learn_step 16, 10k steps per member, tournament +
  mutations on, 1 torch thread, on mpe2 simple_speaker_listener and ATC head_on.
* scaling: transitions/s for population 4, 8, 16, 32: MADDPG and MATD3 on both envs, IPPO on ATC head_on
  (4,800 steps per member by default, two generations: AgileRL's population-32 runs take most of the time).

One transition is one sub-env step (all agents acting once). With ``--out`` the tables are written as
Markdown through ``benchmarks/results_file.py`` (a ``## Notes`` section at the end of the old file, e.g.
the first measurement kept as the baseline, survives) and the scaling chart as a PNG beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from results_file import write_results  # noqa: E402
from sides import Setting, ippo_setting  # noqa: E402

ENVS = {"mpe2/simple_speaker_listener_v4": "mpe2 speaker_listener", "atc/head_on": "ATC head_on"}
SIDES = ("agilerl", "evo-marl")


def measure(setting: Setting, log) -> dict:
    """Both sides of one setting, back to back; each result has ``rate`` (transitions/s) and ``load``."""
    out = {}
    for side in SIDES:
        load = os.getloadavg()[0]
        cmd = [sys.executable, str(HERE / "sides.py"), "--side", side, "--setting", json.dumps(asdict(setting))]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent.parent)
        log.write(f"$ {' '.join(cmd)}\n{proc.stderr[-4000:]}\n")
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            print(f"  {side} FAILED on {setting} (stderr in the log):\n{proc.stderr[-1500:]}", flush=True)
            return {"error": f"{side} failed (exit {proc.returncode})"}
        out[side] = dict(json.loads(lines[-1][len("RESULT "):]), load=load)
        r = out[side]
        print(f"  {side:8s} {setting.algo} {setting.env} pop {setting.pop}: {r['rate']:,.0f} transitions/s, "
              f"{r['cpu_rate']:,.0f} per CPU-s ({r['transitions']:,} in {r['wall']:.1f} s, {r['cpu']:.1f} CPU-s, "
              f"load {load:.2f})", flush=True)
    return out


def headline_settings(steps: int) -> list[Setting]:
    return [Setting(algo="MADDPG", env=env, pop=4, steps=steps, evo_steps=steps // 2) for env in ENVS]


def scaling_settings(pops: list[int], steps: int, envs: list[str] | None = None) -> list[Setting]:
    """Every population size with ``steps`` per member in two generations (one selection + mutation);
    ``envs``: only these env ids (default: all of :data:`ENVS`)."""
    common = dict(steps=steps, evo_steps=steps // 2)
    envs = list(envs or ENVS)
    settings = []
    for p in pops:  # smallest populations first: a run cut short still gives a table
        settings += [Setting(algo=algo, env=env, pop=p, **common) for env in envs for algo in ("MADDPG", "MATD3")]
        if "atc/head_on" in envs:
            settings.append(ippo_setting(env="atc/head_on", pop=p, **common))
    return settings


def _row(setting: Setting, pair: dict) -> str:
    if "error" in pair:
        return f"| {setting.algo} | {ENVS.get(setting.env, setting.env)} | {setting.pop} | {pair['error']} |"
    a, e = pair["agilerl"], pair["evo-marl"]
    return (f"| {setting.algo} | {ENVS.get(setting.env, setting.env)} | {setting.pop} | {a['rate']:,.0f} | "
            f"{e['rate']:,.0f} | **{e['rate'] / a['rate']:.1f}x** | {a['cpu_rate']:,.0f} | {e['cpu_rate']:,.0f} | "
            f"**{e['cpu_rate'] / a['cpu_rate']:.1f}x** | {a['wall']:.0f} / {e['wall']:.0f} | "
            f"{a['load']:.1f} / {e['load']:.1f} |")


HEADER = ["| algo | env | population | AgileRL transitions/s | evo-marl transitions/s | ratio | AgileRL "
          "transitions/CPU-s | evo-marl transitions/CPU-s | CPU ratio | wall s (A / e) | load before (A / e) |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]


def plot_scaling(results: list[tuple[Setting, dict]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str], list[tuple[Setting, dict]]] = {}
    for setting, pair in results:
        groups.setdefault((setting.algo, setting.env), []).append((setting, pair))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.6), squeeze=False)
    for ax, ((algo, env), rows) in zip(axes[0], groups.items()):
        rows = [(s, p) for s, p in rows if "error" not in p]
        pops = [s.pop for s, _ in rows]
        for side, style in (("agilerl", "o--"), ("evo-marl", "s-")):
            label = "AgileRL 2.58" if side == "agilerl" else side
            ax.plot(pops, [p[side]["rate"] for _, p in rows], style, label=label)
        for s, p in rows:
            ax.annotate(f"{p['evo-marl']['rate'] / p['agilerl']['rate']:.0f}x", (s.pop, p["evo-marl"]["rate"]),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(pops, [str(p) for p in pops])
        ax.set_title(f"{algo}, {ENVS.get(env, env)}", fontsize=10)
        ax.set_xlabel("population size")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("transitions / s (1 torch thread)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["headline", "scaling"])
    parser.add_argument("--pops", nargs="+", type=int, default=[4, 8, 16, 32])
    parser.add_argument("--steps", type=int, default=10_000, help="env steps per member (side by side)")
    parser.add_argument("--scaling-steps", type=int, default=4_800,
                        help="env steps per member in the scaling table (AgileRL's population-32 runs dominate the "
                             "time); half of it is whole vector steps of 8 envs, so both sides run two generations")
    parser.add_argument("--envs", nargs="+", choices=list(ENVS), default=None,
                        help="env ids of the scaling table (default: all)")
    parser.add_argument("--out", default=None, help="write the results as Markdown to this file (+ a PNG chart)")
    parser.add_argument("--log", default=None, help="stderr of every measurement (default: next to --out, or none)")
    args = parser.parse_args()

    import agilerl  # noqa: F401  (fail early outside the AgileRL venv)

    load_start = os.getloadavg()
    log_path = Path(args.log) if args.log else (Path(args.out).with_suffix(".log") if args.out else Path(os.devnull))
    headline: list[tuple[Setting, dict]] = []
    scaling: list[tuple[Setting, dict]] = []
    with open(log_path, "w") as log:
        if args.only in (None, "headline"):
            print("== headline", flush=True)
            for s in headline_settings(args.steps):
                headline.append((s, measure(s, log)))
                report(args, load_start, headline, scaling, final=False)
        if args.only in (None, "scaling"):
            print("== scaling", flush=True)
            for s in scaling_settings(args.pops, args.scaling_steps, args.envs):
                scaling.append((s, measure(s, log)))
                report(args, load_start, headline, scaling, final=False)
    print("\n".join(report(args, load_start, headline, scaling, final=True)))


def report(args, load_start, headline: list, scaling: list, final: bool) -> list[str]:
    """The results as Markdown lines; written to ``args.out`` (and the chart beside it) as they come in."""
    import numpy
    import pettingzoo
    import torch
    from importlib.metadata import version

    argv = " ".join(sys.argv[1:])
    state = "" if final else " **(in progress: the run has not finished)**"
    lines = [f"# AgileRL 2.58 vs evo-marl: training throughput side by side{state}", "",
             f"Command: `.venv-agilerl/bin/python benchmarks/peer/compare.py {argv}` (`bash benchmarks/peer/run.sh` "
             "builds the AgileRL venv if needed and runs it)  ",
             f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python "
             f"{platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}, pettingzoo "
             f"{pettingzoo.__version__}, agilerl {version('agilerl')}, 1 torch thread. The machine is shared with "
             f"other engineers' work: load average {load_start[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at "
             "the end; each row's two sides ran back to back (load before each in the last column).", "",
             "Settings, identical on both sides: population P x 8 envs, batch 64, learn_step 16 (off-policy: one "
             f"learning step per 16 of a member's transitions), {args.steps:,} env steps per member side by side and "
             f"{args.scaling_steps:,} in the scaling table, in two generations (tournament of 2 with elitism between "
             "them; mutations: none 0.4, architecture 0.2 (new layer 0.2), "
             "parameters 0.2, RL hyperparameters 0.2 (learning rates only, so the learning work per transition is "
             "the same on both sides), elite not mutated), one evaluation episode per member per generation, no "
             "learning delay, 100k replay buffer, networks from one config: encoder [64] -> latent 64 -> head [64], "
             "ReLU, no layer norm. IPPO: rollouts of 512 transitions (64 vector steps x 8 envs), minibatch 128, "
             "4 epochs, lr 1e-3, action std 0.3 (configs/atc_head_on_ippo.yaml). Only the training call is timed "
             "(evaluation and evolution included, building envs and population not).", "",
             "Transitions/s is wall-clock throughput (the figure the targets of issue 12 use). Transitions/CPU-s "
             "divides by the CPU time of the training call instead (the process plus, for AgileRL, its 8 env "
             "worker processes): on a busy shared machine it moves much less with other people's load, and a side "
             "with more processes (AgileRL: 9) gets a larger share of a busy machine in wall time. On an idle "
             "2-core machine AgileRL's env workers can run beside its learner, so its wall rate may exceed its CPU "
             "rate.", "",
             "AgileRL side: `AsyncPettingZooVecEnv` of 8 copies of `evo_marl.make_env(env_id)` (evo-marl's own "
             "PettingZoo env; for mpe2 the plain mpe2 env), `create_population`, `ReplayBuffer` and its "
             "`train_multi_agent_off_policy` / `train_multi_agent_on_policy`; its members take turns on the 8 "
             "envs. evo-marl side: `make_vec_env(env_id, 8)` widened to P x 8 sub-envs stepped at once, and its "
             "trainers of the same names.", ""]
    if headline:
        lines += ["## Side by side (population 4)", "", *HEADER, *[_row(s, p) for s, p in headline], ""]
    if scaling:
        ordered = sorted(scaling, key=lambda r: (list(ENVS).index(r[0].env), r[0].algo, r[0].pop))
        lines += ["## Scaling with population size", "", *HEADER, *[_row(s, p) for s, p in ordered], ""]
        if args.out:
            lines += [f"![transitions/s against population size]({Path(args.out).with_suffix('.png').name})", ""]
    if args.out:
        out = Path(args.out)
        if scaling:
            plot_scaling(scaling, out.with_suffix(".png"))
        write_results(out, lines)
    return lines


if __name__ == "__main__":
    main()
