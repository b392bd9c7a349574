"""Do the ATC neighbour slots show a controller the aircraft it must avoid when 6-8 aircraft converge?

    python benchmarks/bench_atc_observation.py [--episodes 400] [--aircraft 2 4 6 8] [--horizon 120]
        [--out benchmarks/results/atc_observation.md]

Random traffic (``atc/random``, default generator settings) is flown straight (every action 0, so every
predicted conflict develops); at every step, for every aircraft that has at least one *threat* (another
aircraft predicted, at constant velocity, to come within 5 NM of it within ``--horizon`` seconds: the
spec's alerting horizon), it records

* **urgent seen**: the most urgent threat (soonest predicted loss of separation) is in one of the K slots;
* **all seen**: every threat is in a slot;
* **crowded**: more other aircraft within 20 NM than there are slots;

for each observation layout: K nearest by distance (the spec's default, K = 3), K = 5 by distance, and
the ``threat`` order at K = 3 and 5 (predicted losses of separation first, soonest first). The rates
are over (aircraft, step) samples with a threat. Pure NumPy, seconds to run.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import date
from pathlib import Path

import numpy as np

from evo_marl.envs.atc import vec_env
from evo_marl.envs.atc.kinematics import geometry
from evo_marl.envs.atc.observation import neighbour_order, pair_cpa, slot_key
from results_file import write_results

LAYOUTS = {"distance K=3 (default)": {"neighbor_topk": 3},
           "distance K=5": {"neighbor_topk": 5},
           "threat K=3": {"neighbor_topk": 3, "neighbor_order": "threat"},
           "threat K=5": {"neighbor_topk": 5, "neighbor_order": "threat"}}


def measure(num_aircraft: int, episodes: int, horizon_s: float, seed: int = 0) -> dict[str, dict[str, float]]:
    """Rates per layout (see the module docstring) over ``episodes`` straight-flown random episodes."""
    env = vec_env("random", num_envs=episodes, seed=seed, num_aircraft=num_aircraft)
    env.reset()
    sim = env.sim
    counts = {name: np.zeros(3) for name in LAYOUTS}
    samples = crowded = 0
    done = np.zeros(episodes, bool)
    zeros = {a: np.zeros((episodes, 2), np.float32) for a in env.agents}
    while not done.all():
        geo = geometry(sim.x, sim.y, sim.wp_x, sim.wp_y, sim.present)
        rad = np.radians(sim.hdg)
        tas = sim.cas * sim.cfg.dynamics.cas_to_tas / 3600.0
        cpa = pair_cpa(geo, tas * np.sin(rad), tas * np.cos(rad), 300.0, sim.cfg.reward.separation_nm)
        live = ~done & ~sim.reached  # [A, N]: aircraft still flying in unfinished episodes
        threat = (cpa[0] <= horizon_s) & live[None]  # threat[j, i, n]
        has = threat.any(axis=0) & live  # [A, N]
        if has.any():
            urgent = np.argmin(np.where(threat, cpa[0], np.inf), axis=0)  # [A, N]
            samples += int(has.sum())
            near = (geo.dist < 20.0).sum(axis=0)
            for name, opts in LAYOUTS.items():
                cfg = _cfg(sim.cfg, opts)
                k = min(cfg.neighbor_topk, num_aircraft - 1)
                order = neighbour_order(slot_key(geo, cpa, cfg), k)  # [k, A, N]
                seen = np.zeros_like(threat)
                np.put_along_axis(seen, order, True, axis=0)
                counts[name] += [np.sum(has & np.take_along_axis(seen, urgent[None], 0)[0]),
                                 np.sum(has & ~(threat & ~seen).any(axis=0)), 0]
                if name.startswith("distance K=3"):
                    crowded += int(np.sum(has & (near > k)))
        _, _, _, _, infos = env.step(zeros)
        done |= infos["final_mask"]
    rates = {name: {"urgent seen": c[0] / max(samples, 1), "all seen": c[1] / max(samples, 1)}
             for name, c in counts.items()}
    rates["_"] = {"samples": samples, "crowded (K=3)": crowded / max(samples, 1)}
    return rates


def _cfg(base, opts):
    from dataclasses import replace

    return replace(base, **opts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--aircraft", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--horizon", type=float, default=120.0)
    parser.add_argument("--out", default="benchmarks/results/atc_observation.md")
    args = parser.parse_args(argv)
    lines = ["# ATC observation: are the aircraft that matter in the neighbour slots?", "",
             f"Measured {date.today().isoformat()} on {platform.processor() or platform.machine()} with "
             f"`python {' '.join(['benchmarks/bench_atc_observation.py', *sys.argv[1:]])}`.", "",
             f"{args.episodes} straight-flown `atc/random` episodes per aircraft count (default generator). A sample "
             f"is one aircraft at one step with at least one threat: another aircraft predicted to come within 5 NM "
             f"within {args.horizon:g} s at constant velocity. *Urgent seen*: its most urgent threat is in a slot; "
             "*all seen*: all its threats are; *crowded*: more aircraft within 20 NM than K = 3 slots.", "",
             "| aircraft | samples | crowded (K=3) | " + " | ".join(f"{n}: urgent / all seen" for n in LAYOUTS) + " |",
             "|---:|---:|---:|" + "---:|" * len(LAYOUTS)]
    for n in args.aircraft:
        r = measure(n, args.episodes, args.horizon)
        meta = r.pop("_")
        cells = [f"{v['urgent seen']:.1%} / {v['all seen']:.1%}" for v in r.values()]
        lines.append(f"| {n} | {meta['samples']} | {meta['crowded (K=3)']:.1%} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    out = write_results(Path(args.out), lines)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
