"""Population-batched learning vs members learning one by one: training throughput, back to back.

    python benchmarks/bench_batched_learning.py [--only throughput|grouping] [--repeats 3] [--steps 10000]
        [--out benchmarks/results/batched_learning.md]

* throughput: transitions/s with learning on (the whole training call: collection, learning,
  evaluation, selection, mutation) for MADDPG / MATD3 on ATC head_on and mpe2 simple_speaker_listener
  at population 4 and 16, and IPPO on ATC head_on, with ``batched_learning`` off and on. The setting is
  the AgileRL side-by-side one (``benchmarks/peer/``): 8 envs per member, batch 64, learn_step 16,
  [64, 64, 64] networks, 10k steps per member, evo_steps 5k, tournament + mutations on (architecture
  mutations included; hyperparameter mutations change the learning rates only). IPPO: 64-step rollouts
  of 8 envs, minibatch 128, 4 epochs (``configs/atc_head_on_ippo.yaml``).
* kernels: the two design choices, on a critic-sized MLP ([40 -> 64, 64, 64 -> 1], batch 64) at population
  4 and 16: stacked forward + backward with ``torch.func`` (``vmap`` over ``functional_call``) or with
  batched matmuls (``baddbmm``, what ``evo_marl.population`` uses), against one member after another; and the
  Adam step over stacked parameters: elementwise over the whole stack with per-row learning rates, or torch's
  fused kernel once per member over its rows (what ``evo_marl.population`` uses), against each member's own
  ``torch.optim.Adam``. CPU time per call.
* grouping: after many generations of architecture mutation, how members with different shapes are
  best stacked: one stack per exact shape (``shape``) or one per depth with zero-padded widths (``pad``).
  A population of 4 or 16 evolves for 24 generations (20 % or 80 % architecture mutations, no learning, random
  fitness), then 40 updates of every member are timed with each grouping (and ``auto``) and one by one.

Each configuration runs ``--repeats`` times, the variants interleaved (off, on, off, on, ...) so that
both see the same machine load; the table gives the median and the range. One torch thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import date

import numpy as np
import torch

from evo_marl import (HyperparameterConfig, MultiAgentReplayBuffer, Mutations, RLParameter, TournamentSelection,
                      create_population, make_vec_env, train_multi_agent_off_policy, train_multi_agent_on_policy)
from evo_marl.population.network import GROUPINGS
from evo_marl.population.off_policy import StackedOffPolicy, stacked_batch
from results_file import write_results

NET_CONFIG = {"hidden_size": [64, 64, 64]}  # the peer's encoder [64] -> latent 64 -> head [64]
MUTATION = dict(no_mutation=0.4, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0.0, rl_hp=0.2,
                mutation_sd=0.1, mutate_elite=False)
ENVS = {"atc/head_on": "ATC head_on", "mpe2/simple_speaker_listener_v4": "mpe2 speaker_listener"}


class TimingWriter:
    """Collects each generation's phase timings (seconds)."""

    def __init__(self):
        self.phases: dict[str, float] = {}

    def write_generation(self, record) -> None:
        for name, seconds in record.timings.items():
            self.phases[name] = self.phases.get(name, 0.0) + seconds

    def close(self) -> None:
        pass


def train(algo: str, env_id: str, pop_size: int, steps: int, batched: bool, seed: int = 0, device: str = "cpu") -> dict:
    """One training run: transitions per second of wall time and of this process's CPU time (the training
    call only is timed), and the seconds spent in each phase."""
    env = make_vec_env(env_id, num_envs=8, seed=seed)
    agents = list(env.agents)
    ippo = algo == "IPPO"
    hp = {"BATCH_SIZE": 128 if ippo else 64, "LEARN_STEP": 512 if ippo else 16, "AGENT_IDS": agents}
    if ippo:
        hp.update(LR=1e-3, UPDATE_EPOCHS=4, GAMMA=0.99, GAE_LAMBDA=0.95, CLIP_COEF=0.2, ENT_COEF=0.0,
                  ACTION_STD_INIT=0.3)
    names = ["lr"] if ippo else ["lr_actor", "lr_critic"]
    hp_config = HyperparameterConfig(**{n: RLParameter(min=1e-4, max=1e-2) for n in names})
    pop = create_population(algo, [env.single_observation_space(a) for a in agents],
                            [env.single_action_space(a) for a in agents], NET_CONFIG, hp, hp_config=hp_config,
                            population_size=pop_size, num_envs=8, seed=seed, device=device)
    timing = TimingWriter()
    with tempfile.TemporaryDirectory() as run_dir:
        common = dict(INIT_HP=hp, max_steps=steps, evo_steps=5_000, eval_loop=1,
                      tournament=TournamentSelection(2, True, pop_size, eval_loop=1), mutation=Mutations(**MUTATION),
                      checkpoint=False, verbose=False, seed=seed, run_dir=run_dir, batched_learning=batched,
                      writers=[timing])
        start, cpu = time.perf_counter(), time.process_time()
        if ippo:
            pop, _ = train_multi_agent_on_policy(env, env_id, algo, pop, **common)
        else:
            memory = MultiAgentReplayBuffer(100_000, ["obs", "action", "reward", "next_obs", "termination", "active"],
                                            agent_ids=agents, device=device)
            pop, _ = train_multi_agent_off_policy(env, env_id, algo, pop, memory, learning_delay=0, **common)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    transitions = sum(m.steps[-1] for m in pop)
    return {"rate": transitions / wall, "cpu_rate": transitions / cpu, "phases": timing.phases, "wall": wall}


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def throughput(repeats: int, steps: int) -> list[str]:
    configs = [(algo, env, pop) for env in ENVS for algo in ("MADDPG", "MATD3") for pop in (4, 16)]
    configs += [("IPPO", "atc/head_on", 4), ("IPPO", "atc/head_on", 16)]
    lines = ["## Throughput (median and range of the repeats)", "",
             "Transitions/s is wall-clock throughput of the whole training call; transitions per CPU-second divides "
             "by this process's CPU time instead, which moves much less with other people's load on a shared "
             "machine. Speed-ups are medians of the per-repeat ratios (one by one and batched ran back to back).", "",
             "| algo | env | pop | transitions/s: one by one | batched | speed-up | transitions/CPU-s: one by one | "
             "batched | speed-up | batched time split (learn / act / env / eval) | load before |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for algo, env_id, pop in configs:
        runs: dict[bool, list[dict]] = {False: [], True: []}
        load = os.getloadavg()[0]
        for _ in range(repeats):
            for batched in (False, True):
                runs[batched].append(train(algo, env_id, pop, steps, batched))

        def column(batched: bool, key: str) -> list[float]:
            return [r[key] for r in runs[batched]]

        ratio = {key: statistics.median(b / a for a, b in zip(column(False, key), column(True, key)))
                 for key in ("rate", "cpu_rate")}
        phases = {k: sum(r["phases"].get(k, 0.0) for r in runs[True]) / sum(r["wall"] for r in runs[True])
                  for k in ("learning", "acting", "env", "evaluation")}
        split = " / ".join(f"{100 * phases[k]:.0f} %" for k in ("learning", "acting", "env", "evaluation"))
        line = (f"| {algo} | {ENVS[env_id]} | {pop} | {summary(column(False, 'rate'))} | "
                f"{summary(column(True, 'rate'))} | **{ratio['rate']:.2f}x** | {summary(column(False, 'cpu_rate'))} | "
                f"{summary(column(True, 'cpu_rate'))} | **{ratio['cpu_rate']:.2f}x** | {split} | {load:.1f} |")
        print(line, flush=True)
        lines.append(line)
    return lines


def evolved_population(generations: int, pop_size: int, architecture: float, seed: int = 0):
    """A MATD3 population on ATC head_on after ``generations`` of tournament selection and mutation, where
    ``architecture`` is the probability of an architecture mutation (the rest: none)."""
    env = make_vec_env("atc/head_on", num_envs=8, seed=seed)
    agents = list(env.agents)
    hp = {"BATCH_SIZE": 64, "LEARN_STEP": 8, "AGENT_IDS": agents}
    pop = create_population("MATD3", [env.single_observation_space(a) for a in agents],
                            [env.single_action_space(a) for a in agents], NET_CONFIG, hp,
                            population_size=pop_size, num_envs=8, seed=seed)
    tournament = TournamentSelection(2, True, pop_size, eval_loop=1, rng=np.random.default_rng(seed))
    mutation = Mutations(no_mutation=1 - architecture, architecture=architecture, new_layer_prob=0.2, parameters=0.0,
                         rl_hp=0.0, rng=np.random.default_rng(seed + 1))
    rng = np.random.default_rng(seed + 2)
    for _ in range(generations):
        for member in pop:
            member.fitness.append(float(rng.normal()))
        _, pop = tournament.select(pop)
        mutation.mutation(pop)
    return env, pop


def grouping(repeats: int, architecture: float, generations: int = 24, pop_size: int = 16,
             updates: int = 40) -> list[str]:
    env, pop = evolved_population(generations, pop_size, architecture)
    memory = MultiAgentReplayBuffer(20_000, ["obs", "action", "reward", "next_obs", "termination", "active"],
                                    agent_ids=list(env.agents))
    obs, _ = env.reset(seed=0)
    actions = {a: np.zeros((8, 2), np.float32) for a in env.agents}
    for _ in range(300):
        next_obs, rewards, terms, truncs, _ = env.step(actions)
        memory.save_to_memory(obs, actions, rewards, next_obs, terms, {a: np.ones(8, bool) for a in env.agents},
                              is_vectorised=True)
        obs = next_obs
    shapes = {name: len({tuple(m.networks[name].hidden_size) for m in pop}) for name in pop[0].networks}
    depths = {name: len({len(m.networks[name].hidden_size) for m in pop}) for name in pop[0].networks}

    def one_by_one(members) -> float:
        start = time.process_time()
        for _ in range(updates):
            for m in members:
                m.learn(memory.sample(m.batch_size))
        return time.process_time() - start

    def batched(members, how: str) -> float:
        start = time.process_time()
        learner = StackedOffPolicy(members, how)
        everyone = list(range(len(members)))
        for _ in range(updates):
            rows = [memory.sample_indices(m.batch_size) for m in members]
            learner.learn(everyone, stacked_batch(memory, members[0], rows))
        learner.write_back()
        return time.process_time() - start

    times: dict[str, list[float]] = {"one by one": [], **{how: [] for how in GROUPINGS}}
    for _ in range(repeats):
        times["one by one"].append(one_by_one([m.clone() for m in pop]))
        for how in GROUPINGS:
            times[how].append(batched([m.clone() for m in pop], how))
    stacks = {how: sum(len(n.stacks) for n in StackedOffPolicy([m.clone() for m in pop], how).nets.values())
              for how in GROUPINGS}
    lines = [f"## Grouping after architecture mutations ({100 * architecture:.0f} % of mutations)", "",
             f"MATD3 on ATC head_on, population {pop_size}, after {generations} generations of tournament selection "
             f"and mutation ({100 * architecture:.0f} % architecture mutations, the rest none; no learning, random "
             "fitness). Distinct shapes per network: "
             f"{shapes}; distinct depths: {depths}. CPU seconds of {updates} updates of every member (median and "
             f"range of {repeats} repeats; the batched times include stacking and writing back):", "",
             "| learning | stacks (all networks) | CPU seconds | member updates per CPU second |", "|---|---|---|---|"]
    for how, values in times.items():
        count = stacks.get(how, pop_size * len(pop[0].networks))
        rate = updates * pop_size / statistics.median(values)
        lines.append(f"| {how} | {count} | {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f}) | "
                     f"{rate:,.0f} |")
    print("\n".join(lines), flush=True)
    return lines


def _cpu_time(fn, calls: int) -> float:
    """CPU microseconds per call of ``fn`` (after a warm-up)."""
    for _ in range(10):
        fn()
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls * 1e6


def kernels(repeats: int) -> list[str]:
    from torch.func import functional_call, vmap

    from evo_marl.networks import EvolvableMLP
    from evo_marl.population.stack import Layout, mlp_forward

    lines = ["## Kernels (CPU microseconds per call, median of the repeats)", "",
             "| population | one by one: forward + backward | torch.func vmap | baddbmm stack | "
             "Adam: each member's optimizer | elementwise over the stack | fused per member over its rows |",
             "|---|---|---|---|---|---|---|"]
    for size in (4, 16):
        gen = torch.Generator().manual_seed(0)
        nets = [EvolvableMLP(40, 1, [64, 64, 64], generator=gen) for _ in range(size)]
        xs, ys = torch.randn(size, 64, 40, generator=gen), torch.randn(size, 64, 1, generator=gen)

        def alone():
            for net, x, y in zip(nets, xs, ys):
                torch.autograd.grad(((net(x) - y) ** 2).mean(), list(net.parameters()))

        names = [n for n, _ in nets[0].named_parameters()]
        stacked = {n: torch.stack([dict(net.named_parameters())[n].detach() for net in nets]).requires_grad_()
                   for n in names}

        def loss_of(params, x, y):
            return ((functional_call(nets[0], params, (x,)) - y) ** 2).mean()

        def with_vmap():
            torch.autograd.grad(vmap(loss_of)(stacked, xs, ys).sum(), list(stacked.values()))

        layout = Layout(40, (64, 64, 64), 1, "ReLU", None)
        segments = []
        for n in names:  # as ParamStack stores them: weights [in, out], biases [1, out]
            t = stacked[n].detach()
            segments.append((t.transpose(1, 2) if t.dim() == 3 else t.unsqueeze(1)).contiguous().requires_grad_())

        def with_bmm():
            torch.autograd.grad(((mlp_forward(layout, segments, xs) - ys) ** 2).mean(dim=(1, 2)).sum(), segments)

        optimizers = [torch.optim.Adam(net.parameters(), lr=1e-3 * (k + 1), fused=True) for k, net in enumerate(nets)]
        for net in nets:
            for p in net.parameters():
                p.grad = torch.randn_like(p)
        width = sum(p.numel() for p in nets[0].parameters())
        flat, grad = torch.zeros(size, width), torch.randn(size, width)
        m, v, steps = torch.zeros(size, width), torch.zeros(size, width), torch.ones(size, 1)
        lr = torch.tensor([[1e-3 * (k + 1)] for k in range(size)])

        def own_optimizers():
            for opt in optimizers:
                opt.step()

        def elementwise():
            m.lerp_(grad, 0.1)
            v.mul_(0.999).add_(grad * grad * 0.001)
            denom = (v.sqrt() / (1 - 0.999 ** steps).sqrt()).add_(1e-8)
            flat.sub_(m * (lr / (1 - 0.9 ** steps)) / denom)

        counts = [torch.ones(()) for _ in range(size)]

        def fused_rows():
            for k in range(size):
                torch._fused_adam_([flat[k]], [grad[k]], [m[k]], [v[k]], [], [counts[k]], lr=1e-3 * (k + 1),
                                   beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)

        cells = [statistics.median(_cpu_time(fn, 100) for _ in range(repeats))
                 for fn in (alone, with_vmap, with_bmm, own_optimizers, elementwise, fused_rows)]
        lines.append(f"| {size} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["kernels", "grouping", "throughput"], default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10_000, help="env steps per member")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    command = "python benchmarks/bench_batched_learning.py" + (f" --only {args.only}" if args.only else "") + \
        f" --repeats {args.repeats} --steps {args.steps}"
    lines = ["# Population-batched learning", "", f"Command: `{command}`  ", f"Date: {date.today()}  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared with other "
             f"engineers' jobs), torch {torch.__version__}, 1 torch thread", ""]
    if args.only in (None, "kernels"):
        lines += kernels(args.repeats) + [""]
    if args.only in (None, "grouping"):
        for pop_size in (4, 16):
            for architecture in (0.2, 0.8):  # the default rate, and heavy architecture search
                lines += grouping(args.repeats, architecture, pop_size=pop_size) + [""]
    if args.only in (None, "throughput"):
        lines += throughput(args.repeats, args.steps) + [""]
    print("\n".join(lines))
    if args.out:
        write_results(args.out, lines)


if __name__ == "__main__":
    main()
