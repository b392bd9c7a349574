"""Synthetic run folders (no training) for the tracking tests, and tests of reading a run folder back."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from evo_marl.errors import ConfigError
from evo_marl.tracking.run_data import load_run, mutation_kind
from evo_marl.tracking.writers import CSVWriter
from evo_marl.tracking.records import GenerationRecord, MemberRecord

ARCH = {"actor/agent_0": [32, 32], "critic/agent_0": [64, 64]}
HP = {"lr_actor": 1e-3, "lr_critic": 1e-3, "batch_size": 64, "gamma": 0.95, "O_U_noise": False}


def synthetic_records(generations: int = 8, population: int = 4, seed: int = 0, jump: float = 0.0,
                      fail: tuple[int, int] | None = None) -> list[GenerationRecord]:
    """Generation records that behave like the runner's: the best member survives as the elite (same index),
    the others are copies of tournament winners with a new index and one mutation. ``jump`` adds a large
    improvement after generation 1; ``fail=(g, slot)`` gives that member a NaN fitness."""
    rng = np.random.default_rng(seed)
    next_index = population
    members = [MemberRecord(index=k, parent=None, mutation="None", fitness=float(-10 + rng.normal()), steps=100,
                            hyperparameters=dict(HP), architecture={k2: list(v) for k2, v in ARCH.items()},
                            activation="ReLU", parameter_count=5000, eval_metrics={"team_return": 0.0})
               for k in range(population)]
    records = []
    kinds = ["None", "parameters", "rl_hp", "architecture", "activation"]
    for g in range(1, generations + 1):
        if fail and fail[0] == g:
            members[fail[1]].fitness = math.nan
            members[fail[1]].failed = True
        for m in members:
            m.eval_metrics = {"team_return": m.fitness, "los_events": float(rng.integers(0, 5))}
        records.append(GenerationRecord(generation=g, total_steps=g * 100 * population,
                                        members=[MemberRecord(**vars(m)) for m in members],
                                        timings={"learning": 1.0, "env": 0.5}, transitions_per_second=400.0 + g,
                                        wall_time=1.5 * g))
        ranked = sorted(members, key=lambda m: m.fitness if math.isfinite(m.fitness) else -math.inf)
        elite = ranked[-1]
        children = [MemberRecord(**{**vars(elite), "parent": elite.index, "mutation": "None",
                                    "steps": elite.steps + 100})]
        for _ in range(population - 1):
            parent = members[int(rng.integers(population))]
            if not math.isfinite(parent.fitness):
                parent = elite
            kind = kinds[int(rng.integers(len(kinds)))]
            hp, arch, count, act, text = dict(parent.hyperparameters), parent.architecture, parent.parameter_count, \
                parent.activation, "None"
            if kind == "parameters":
                text = "parameters"
            elif kind == "rl_hp":
                old = hp["lr_actor"]
                hp["lr_actor"] = old * float(rng.choice([0.8, 1.2]))
                text = f"lr_actor:{old:.4g}->{hp['lr_actor']:.4g}"
            elif kind == "architecture":
                arch = {**arch, "actor/agent_0": arch["actor/agent_0"] + [16]}
                count += 16 * 32
                text = "actor/agent_0:add_layer(width=16)"
            elif kind == "activation":
                act = "Tanh"
                text = "activation:Tanh"
            base = parent.fitness if math.isfinite(parent.fitness) else elite.fitness
            gain = jump if g == 1 else 1.0
            children.append(MemberRecord(index=next_index, parent=parent.index, mutation=text,
                                         fitness=float(base + gain + 0.5 * rng.normal()), steps=parent.steps + 100,
                                         hyperparameters=hp, architecture=arch, activation=act,
                                         parameter_count=count))
            next_index += 1
        children[0].fitness = float(elite.fitness + (jump if g == 1 else 1.0) + 0.2 * rng.normal())
        members = children
    return records


def make_synthetic_run(run_dir: Path, **kwargs) -> list[GenerationRecord]:
    """Write ``metrics.csv`` and ``generations.csv`` of a synthetic run into ``run_dir``."""
    records = synthetic_records(**kwargs)
    writer = CSVWriter(run_dir)
    for record in records:
        writer.write_generation(record)
    return records


def test_load_run_reads_back_what_the_csv_writer_wrote(tmp_path):
    records = make_synthetic_run(tmp_path, generations=5, population=3)
    data = load_run(tmp_path)
    assert data.generation_numbers == [1, 2, 3, 4, 5]
    assert len(data.members) == 15 and len(data.generations) == 5
    for record in records:
        rows = data.by_generation()[record.generation]
        assert [r.index for r in rows] == [m.index for m in record.members]
        assert [r.parent for r in rows] == [m.parent for m in record.members]
        assert [r.hyperparameters for r in rows] == [m.hyperparameters for m in record.members]
        assert [r.fitness for r in rows] == pytest.approx([m.fitness for m in record.members])
    assert data.generations[-1]["evo/best_fitness"] == pytest.approx(records[-1].best_fitness)
    best = data.best()
    assert best.fitness == max(m.fitness for r in records for m in r.members)


def test_lineage_walks_back_to_the_first_generation(tmp_path):
    make_synthetic_run(tmp_path, generations=6, population=4, seed=3)
    data = load_run(tmp_path)
    chain = data.lineage(data.best())
    assert [m.generation for m in chain] == list(range(data.best().generation, 0, -1))
    for child, parent in zip(chain, chain[1:]):
        assert child.parent == parent.index
    assert chain[-1].kind == "initial"


@pytest.mark.parametrize("text,index,parent,kind", [
    ("None", 3, None, "initial"), ("None", 3, 3, "elite"), ("None", 5, 3, "none"), ("parameters", 5, 3, "parameters"),
    ("lr_actor:0.001->0.0012", 5, 3, "rl_hp"), ("activation:Tanh", 5, 3, "activation"),
    ("critic/agent_1:remove_node(layer=1, -16)", 5, 3, "architecture"),
])
def test_mutation_kind(text, index, parent, kind):
    assert mutation_kind(text, index, parent) == kind


def test_load_run_errors_name_the_run_dir(tmp_path):
    with pytest.raises(ConfigError, match="run_dir=.*existing run folder"):
        load_run(tmp_path / "missing")
    with pytest.raises(ConfigError, match="run_dir=.*holds no metrics.csv"):
        load_run(tmp_path)
    (tmp_path / "metrics.csv").write_text(",".join(CSVWriter.MEMBER_COLUMNS) + "\n")
    with pytest.raises(ConfigError, match="no member rows"):
        load_run(tmp_path)
