"""The Ray backend at the default ATC budget: local vs 1 and 2 Ray workers, the per-generation overhead of
distributing (member transfer, shared replay), and a projection to 8 and 64 machines.

    python benchmarks/bench_ray.py [--generations 3] [--workers 1 2] [--out benchmarks/results/ray.md]

Each backend trains the default experiment (evo_marl/default_experiment.yaml: MATD3, 4 members x 8 envs,
5,000 env steps per member per generation, 4 evaluation episodes, 100k shared buffer) for ``--generations``
generations with the same seed, back to back in this process (a local Ray instance with as many CPUs as
the most workers). Generation 1 includes starting the actors; the steady-state figures are the mean of the
later generations. The projection combines the measured per-member compute, member-state and transition
sizes and (de)serialisation/insert rates with an assumed network (``--bandwidth``) — see the results file.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

import evo_marl
from evo_marl.buffers import MultiAgentReplayBuffer
from evo_marl.config import default_config
from evo_marl.distributed import RayBackend
from evo_marl.distributed.cluster import init_ray
from evo_marl.distributed.ray_phase import nbytes
from evo_marl.envs import make_vec_env
from evo_marl.experiment import TRAINER_FIELDS, build_mutation, build_population, build_selection, run_settings
from evo_marl.hpo import TournamentSelection
from evo_marl.training.checkpoint import member_from_state, save_generation
from evo_marl.training.trainer import train_population
from results_file import write_results

PHASES = ("acting", "env", "buffer", "learning", "evaluation")


class GenerationClock:
    """Records each generation and the wall time between consecutive generations' records."""

    def __init__(self):
        self.start, self.cpu = time.perf_counter(), time.process_time()
        self.records, self.walls, self.cpus = [], [], []

    def write_generation(self, record) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.walls.append(now - self.start)
        self.cpus.append(cpu - self.cpu)
        self.start, self.cpu = now, cpu
        self.records.append(record)

    def close(self) -> None:
        pass


class RayStats(logging.Handler):
    """The Ray phase's per-generation figures (seconds and bytes), from its debug log line."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.stats: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("ray generation"):
            self.stats.append(record.args[1])


def config_for(generations: int, evo_steps: int | None = None):
    config = default_config()
    config.training.evo_steps = evo_steps or config.training.evo_steps
    config.training.max_steps = generations * config.training.evo_steps
    config.training.stopping.criteria = {}  # run the whole budget
    config.output.plots = False
    return config


def train(config, backend, run_dir: Path) -> dict:
    """One run of ``config``; per-generation walls, records and (Ray) phase statistics."""
    clock, stats = GenerationClock(), RayStats()
    logger = logging.getLogger("evo_marl.distributed.ray_phase")
    logger.addHandler(stats)
    logger.setLevel(logging.DEBUG)
    try:
        config.output.root = str(run_dir)
        env = make_vec_env(config.env.id, num_envs=config.env.num_envs, seed=config.seed, **config.env.kwargs)
        pop = build_population(config, env)
        memory = MultiAgentReplayBuffer(config.training.memory_size, TRAINER_FIELDS, agent_ids=env.agents)
        clock.start, clock.cpu = time.perf_counter(), time.process_time()
        _, history = train_population(env, pop, run_settings(config, verbose=False), memory=memory,
                                      selection=build_selection(config), mutation=build_mutation(config),
                                      writers=[clock], backend=backend)
    finally:
        logger.removeHandler(stats)
    return {"walls": clock.walls, "cpus": clock.cpus, "records": clock.records, "stats": stats.stats, "history": history,
            "pop": pop, "memory": memory}


def steady(run: dict, key) -> float:
    """Mean over generations >= 2 of ``key(generation index)``."""
    values = [key(i) for i in range(1, len(run["walls"]))]
    return float(np.mean(values)) if values else float("nan")


def member_costs(pop: list, net_config, num_envs: int, repeats: int = 20) -> dict:
    """Bytes of a member's state and the CPU seconds to dump it (state_dict + pickle), to load it into an
    existing member (the driver) and to rebuild a member from it (a worker)."""
    member, other = pop[0], pop[1]
    t0 = time.process_time()
    for _ in range(repeats):
        blob = pickle.dumps(member.state_dict(), protocol=5)
    t1 = time.process_time()
    for _ in range(repeats):
        other.load_state_dict(pickle.loads(blob))
    t2 = time.process_time()
    for _ in range(repeats):
        member_from_state(pickle.loads(blob), member.index, net_config, num_envs)
    t3 = time.process_time()
    return {"bytes": nbytes(member.state_dict()), "pickled": len(blob), "dump": (t1 - t0) / repeats,
            "load": (t2 - t1) / repeats, "rebuild": (t3 - t2) / repeats}


def driver_costs(pop: list, config, memory: MultiAgentReplayBuffer, sizes: tuple[int, int] = (4, 32)) -> dict:
    """CPU seconds of the driver's own work per generation (selection, mutation, checkpoint), which the local
    backend does too: a fixed part (the replay buffer's checkpoint) plus a part per member, fitted from two
    population sizes of copies of the trained members."""
    cost = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            members = [pop[k % len(pop)].clone(index=k) for k in range(size)]
            fitness = rng.normal(size=size).tolist()
            selection = TournamentSelection(config.selection.tournament_size, config.selection.elitism, size,
                                            config.training.fitness_window, seed=0)
            mutation = build_mutation(config)
            start = time.process_time()
            _, members = selection.select(members, fitness)
            mutation.mutation(members)
            save_generation(Path(tmp) / str(size), 1, members, {}, None)
            cost[size] = time.process_time() - start
        start = time.process_time()
        torch.save(memory.state_dict(), Path(tmp) / "buffer.pt")
        buffer = time.process_time() - start
    per_member = (cost[sizes[1]] - cost[sizes[0]]) / (sizes[1] - sizes[0])
    return {"per_member": per_member, "fixed": max(0.0, cost[sizes[0]] - sizes[0] * per_member) + buffer,
            "buffer": buffer}


def insert_rate(memory: MultiAgentReplayBuffer, rows: int = 20_000) -> tuple[float, float]:
    """Bytes per stored transition and CPU seconds to append one (a block of ``rows`` at once)."""
    mark = (0, 0, max(0, memory.counter - rows))
    block = memory.rows_since(mark)
    n = len(next(iter(next(iter(block.values())).values())))
    replica = MultiAgentReplayBuffer(memory.memory_size, memory.field_names, agent_ids=memory.agent_ids)
    start = time.process_time()
    replica.save_to_memory(**block, is_vectorised=True)
    return nbytes(block) / n, (time.process_time() - start) / n


def project(machines: int, members: int, c: float, member: dict, row_bytes: float, row_insert: float,
            evo_steps: int, driver: dict, latency: float, bandwidth: float) -> dict:
    """Seconds of one generation with ``machines`` workers of ``members`` members each (see the results file)."""
    population = machines * members
    compute = members * c
    members_driver = population * (member["dump"] + member["load"])  # serial on the driver
    members_worker = members * (member["rebuild"] + member["dump"])  # in parallel on the workers
    members_net = 2 * population * member["pickled"] / bandwidth  # the driver's link carries every state
    rows = population * evo_steps
    replay_net = rows * row_bytes / bandwidth  # every node receives (and serves) one copy of all rows
    replay_insert = rows * row_insert  # each worker appends all rows; the driver too (in parallel)
    driver = driver["fixed"] + population * driver["per_member"]
    overhead = members_driver + members_worker + members_net + replay_net + replay_insert + latency
    total = compute + overhead + driver
    return {"machines": machines, "population": population, "compute": compute, "members": members_driver +
            members_worker + members_net, "replay": replay_net + replay_insert, "latency": latency,
            "driver": driver, "total": total, "overhead_pct": 100 * overhead / total,
            "replica_gb": 2 * rows * row_bytes / 1e9}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--evo-steps", type=int, help="steps per member per generation (default: the config's)")
    parser.add_argument("--members-per-machine", type=int, default=4)
    parser.add_argument("--bandwidth", type=float, default=1.25e9, help="bytes/s per machine (10 Gbit/s)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = str(Path(evo_marl.__file__).resolve().parents[1])  # workers import this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p])

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        runs["local"] = train(config_for(args.generations, args.evo_steps), None, Path(tmp) / "local")
        print(f"local: {time.perf_counter() - start:.1f} s", flush=True)
        t_init = time.perf_counter()
        if os.environ.get("RAY_ADDRESS"):  # a running instance (ray start --head --num-cpus N)
            init_ray(os.environ["RAY_ADDRESS"], log_to_driver=False)
        else:
            init_ray(num_cpus=max(args.workers), log_to_driver=False)
        ray_start = time.perf_counter() - t_init
        for w in args.workers:
            start = time.perf_counter()
            runs[f"ray {w}"] = train(config_for(args.generations, args.evo_steps), RayBackend(num_workers=w),
                                     Path(tmp) / f"ray{w}")
            print(f"ray {w} workers: {time.perf_counter() - start:.1f} s", flush=True)

    config = config_for(args.generations, args.evo_steps)
    local = runs["local"]
    pop_size, evo_steps, num_envs = config.population_size, config.training.evo_steps, config.env.num_envs
    member = member_costs(local["pop"], config.net_config, num_envs)
    row_bytes, row_insert = insert_rate(local["memory"])
    reference_name = "ray 1" if "ray 1" in runs else next(k for k in runs if k != "local")
    reference, ref_workers = runs[reference_name], int(reference_name.split()[1])
    # CPU seconds of training + evaluation per member and generation (one thread): what a dedicated core needs
    c = steady(reference, lambda i: sum(reference["stats"][i]["worker_cpu"])) / pop_size
    # the local process's CPU beyond the workers' (the same computation): selection, mutation, checkpoints
    driver = max(0.0, steady(local, lambda i: local["cpus"][i]) - c * pop_size)
    driver_model = driver_costs(local["pop"], config, local["memory"])
    per_member = pop_size * (member["dump"] + member["load"]) + pop_size / ref_workers * (member["rebuild"]
                                                                                          + member["dump"])
    latency = max(0.0, steady(reference, lambda i: reference["stats"][i]["ray"]) - per_member)

    lines = [
        "# Ray backend: overhead per generation, 1 vs 2 local workers, projection",
        "",
        f"Measured {date.today().isoformat()} on {platform.processor() or platform.machine()} "
        f"({os.cpu_count()} cores, shared with other engineers' jobs while this ran: figures are noisy), "
        f"torch {torch.__version__} with 1 thread per process. Command: "
        f"`python benchmarks/bench_ray.py --generations {args.generations} --workers "
        f"{' '.join(map(str, args.workers))}{f' --evo-steps {args.evo_steps}' if args.evo_steps else ''}`.",
        "",
        f"Default experiment (evo_marl/default_experiment.yaml): MATD3, {pop_size} members x {num_envs} envs, "
        f"{evo_steps} env steps per member per generation, {config.training.eval_loop} evaluation episodes, "
        f"buffer {config.training.memory_size}; {args.generations} generations, seed {config.seed}, stopping "
        f"criteria off. Ray instance with {max(args.workers)} CPUs (connecting: {ray_start:.1f} s, not counted "
        "below). Generation 1 includes starting the workers; the other columns are means over generations 2 and "
        "later.",
        "",
        "| backend | generation 1 (s) | generation (s) | compute, slowest worker (s) | compute CPU, all workers (s) "
        "| time/ray (s) | time/replay_sync (s) | overhead (% of generation) | member states (MB/gen) "
        "| new transitions (MB/gen) | transitions/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        wall = steady(run, lambda i: run["walls"][i])
        rate = pop_size * evo_steps / wall
        if name == "local":
            comp = steady(run, lambda i: sum(run["records"][i].timings.get(k, 0.0) for k in PHASES))
            cpu = steady(run, lambda i: run["cpus"][i])
            lines.append(f"| local | {run['walls'][0]:.1f} | {wall:.1f} | {comp:.1f} | {cpu:.1f} (whole process) "
                         f"| – | – | – | – | – | {rate:.0f} |")
            continue
        ray_s = steady(run, lambda i: run["stats"][i]["ray"])
        sync = steady(run, lambda i: run["stats"][i]["replay_sync"])
        comp = steady(run, lambda i: run["stats"][i]["compute"])
        cpu = steady(run, lambda i: sum(run["stats"][i]["worker_cpu"]))
        mb_members = steady(run, lambda i: run["stats"][i]["member_bytes"]) / 1e6
        mb_rows = steady(run, lambda i: run["stats"][i]["replay_bytes"]) / 1e6
        lines.append(f"| {name} worker{'s' if name != 'ray 1' else ''} | {run['walls'][0]:.1f} | {wall:.1f} | "
                     f"{comp:.1f} | {cpu:.1f} | {ray_s:.2f} | {sync:.2f} | {100 * (ray_s + sync) / wall:.1f} | "
                     f"{mb_members:.2f} | {mb_rows:.1f} | {rate:.0f} |")
    lines += [
        "",
        "*compute*: acting + env + buffer + learning + evaluation (wall time; for Ray: of the slowest worker). "
        "*compute CPU*: the CPU seconds the workers spent on it. *time/ray*: the phase's wall time minus the "
        "slowest worker's compute and the replay sync (member state transfer, (de)serialisation, scheduling). "
        "*time/replay_sync*: appending every worker's new transitions to each replica and to the driver's copy. "
        "Overhead = (time/ray + time/replay_sync) / generation wall time.",
        "",
    ]
    for name, run in runs.items():
        if name != "local":
            walls = [np.mean([run["stats"][i]["worker_compute"][w] for i in range(1, len(run["stats"]))])
                     for w in range(len(run["stats"][0]["worker_compute"]))]
            cpus = [np.mean([run["stats"][i]["worker_cpu"][w] for i in range(1, len(run["stats"]))])
                    for w in range(len(run["stats"][0]["worker_cpu"]))]
            lines.append(f"- {name}: per worker compute {', '.join(f'{x:.1f}' for x in walls)} s wall, "
                         f"{', '.join(f'{x:.1f}' for x in cpus)} s CPU.")
    if "ray 1" in runs and "ray 2" in runs:
        one = steady(runs["ray 1"], lambda i: max(runs["ray 1"]["stats"][i]["worker_cpu"]))
        two = steady(runs["ray 2"], lambda i: max(runs["ray 2"]["stats"][i]["worker_cpu"]))
        lines.append(f"- Work per worker: the busiest of 2 workers needs {two:.1f} CPU s per generation against "
                     f"{one:.1f} for 1 worker: {one / two:.2f}x faster where every worker has a core of its own. "
                     "Here both share the same 2 busy cores (see the wall times).")
    if "ray 1" in runs:
        same = np.array_equal(np.array(runs["local"]["history"]), np.array(runs["ray 1"]["history"]))
        lines.append(f"- 1 worker: fitness history equal to the local run's: {same} (another worker count is "
                     "another run, reproducible for that count).")
    lines += [
        "",
        "## Measured unit costs (CPU time: independent of how busy the machine was)",
        "",
        f"- training + evaluation: {c:.2f} CPU s per member per generation ({reference_name} worker(s));",
        f"- a member's state: {member['bytes'] / 1e6:.3f} MB of tensors ({member['pickled'] / 1e6:.3f} MB "
        f"pickled); dump (state_dict + pickle) {1e3 * member['dump']:.1f} ms, load into a driver member "
        f"{1e3 * member['load']:.1f} ms, rebuild in a worker {1e3 * member['rebuild']:.1f} ms;",
        f"- a transition (all agents, all fields): {row_bytes:.0f} bytes; appending to a replica "
        f"{1e6 * row_insert:.2f} µs each;",
        f"- driver work outside the phase, as in the local backend (selection, mutation, writers, checkpoint with "
        f"the buffer): {driver:.1f} CPU s per generation for {pop_size} members (local process CPU minus the "
        f"worker's); measured directly: {driver_model['fixed']:.2f} CPU s per generation (of which the buffer's "
        f"checkpoint {driver_model['buffer']:.2f}) + {driver_model['per_member']:.3f} CPU s per member (fitted "
        "from selection + mutation + checkpoint of 4 and 32 members);",
        f"- Ray latency per generation not explained by the member costs above ({reference_name}, wall time): "
        f"{latency:.2f} s.",
        "",
        f"## Projection: one worker of {args.members_per_machine} members per machine",
        "",
        f"Model per generation: compute = members per worker x CPU s per member (a core per worker); member "
        "states = population x (dump + load) serially on the driver + members per worker x (rebuild + dump) on "
        f"each worker + 2 x population x pickled state over the driver's link; shared replay = all new transitions "
        "over each machine's link (Ray pulls each block from its owner) + appending them; driver = the local "
        "backend's own driver work (fixed + per member, as measured). Assumed: "
        f"{args.bandwidth * 8 / 1e9:.0f} Gbit/s per machine, the latency above, memory_size holding two "
        "generations. Overhead = (member states + shared replay + latency) / generation.",
        "",
        "| machines | population | compute (s) | member states (s) | shared replay (s) | latency (s) | driver (s) "
        "| generation (s) | overhead (%) | replica per machine (GB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for machines in (1, 2, 8, 64):
        p = project(machines, args.members_per_machine, c, member, row_bytes, row_insert, evo_steps,
                    driver_model, latency, args.bandwidth)
        lines.append(f"| {machines} | {p['population']} | {p['compute']:.1f} | {p['members']:.2f} | "
                     f"{p['replay']:.2f} | {p['latency']:.2f} | {p['driver']:.1f} | {p['total']:.1f} | "
                     f"{p['overhead_pct']:.1f} | {p['replica_gb']:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_results(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
