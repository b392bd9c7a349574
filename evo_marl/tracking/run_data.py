"""Read a finished (or running) run folder back: member rows of ``metrics.csv``, generation rows of
``generations.csv`` and lineage helpers shared by the plots and the report."""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evo_marl.errors import ConfigError
from evo_marl.hpo.fitness import RETURN, describe_fitness
from evo_marl.run_folder import latest_complete_generation, read_manifest
from evo_marl.tracking.writers import GENERATION_FILE, MEMBER_FILE

logger = logging.getLogger(__name__)
WANDB_ID_FILE = "wandb_run.json"
MUTATION_KINDS = ("initial", "elite", "none", "parameters", "rl_hp", "architecture", "activation")


def mutation_kind(mutation: str | None, index: int | None = None, parent: int | None = None) -> str:
    """Classify a member's ``mut`` text: ``initial`` (first generation, no parent), ``elite`` (kept unchanged,
    same index as its parent), ``none`` (an unmutated copy), ``parameters``, ``rl_hp`` (e.g.
    ``lr_actor:0.001->0.0012``), ``activation`` or ``architecture``."""
    text = (mutation or "None").strip()
    if text in ("None", "", "none"):
        if parent is None and index is not None:
            return "initial"
        return "elite" if index is not None and index == parent else "none"
    if text == "parameters":
        return "parameters"
    if text.startswith("activation:"):
        return "activation"
    if "->" in text:
        return "rl_hp"
    return "architecture"


@dataclass
class MemberRow:
    """One member of one generation, as written to ``metrics.csv``."""

    generation: int
    index: int
    parent: int | None
    mutation: str
    fitness: float
    steps: int
    train_score: float = math.nan
    failed: bool = False
    activation: str = ""
    parameter_count: int = 0
    architecture: dict[str, list[int]] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    eval_metrics: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    eval_return: float = math.nan

    @property
    def kind(self) -> str:
        return mutation_kind(self.mutation, self.index, self.parent)


@dataclass
class RunData:
    """Everything the plots and the report read from a run folder."""

    run_dir: Path
    members: list[MemberRow]
    generations: list[dict[str, Any]]
    fitness_metric: str = RETURN
    fitness_window: int = 1

    @property
    def fitness_description(self) -> str:
        """What the run's fitness is, in words (:func:`~evo_marl.hpo.fitness.describe_fitness`)."""
        return describe_fitness(self.fitness_metric, self.fitness_window)

    @property
    def generation_numbers(self) -> list[int]:
        return sorted({m.generation for m in self.members})

    def by_generation(self) -> dict[int, list[MemberRow]]:
        out: dict[int, list[MemberRow]] = {}
        for m in self.members:
            out.setdefault(m.generation, []).append(m)
        return out

    def best(self) -> MemberRow:
        """The member with the highest finite fitness over all generations (latest wins ties)."""
        finite = [m for m in self.members if math.isfinite(m.fitness)]
        if not finite:
            return self.members[-1]
        return max(reversed(finite), key=lambda m: m.fitness)

    def lineage(self, member: MemberRow) -> list[MemberRow]:
        """``member`` and its ancestors, newest first (parents are looked up one generation back)."""
        rows = {(m.generation, m.index): m for m in self.members}
        chain, current = [member], member
        while current.parent is not None and (current.generation - 1, current.parent) in rows:
            current = rows[(current.generation - 1, current.parent)]
            chain.append(current)
        return chain

    def parent_of(self, member: MemberRow) -> MemberRow | None:
        if member.parent is None:
            return None
        for m in self.by_generation().get(member.generation - 1, []):
            if m.index == member.parent:
                return m
        return None


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _int(text: str) -> int:
    value = _float(text)
    return int(value) if math.isfinite(value) else 0


def _json(text: str, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return default


def _member(row: dict[str, str]) -> MemberRow:
    return MemberRow(
        generation=int(row["generation"]), index=int(row["index"]),
        parent=int(row["parent"]) if row.get("parent") not in (None, "", "None") else None,
        mutation=row.get("mutation") or "None", fitness=_float(row.get("fitness", "nan")),
        steps=_int(row.get("steps", "0")),
        train_score=_float(row.get("train_score", "nan")), failed=row.get("failed") == "True",
        activation=row.get("activation", ""), parameter_count=_int(row.get("parameter_count", "0")),
        architecture=_json(row.get("architecture", ""), {}), hyperparameters=_json(row.get("hyperparameters", ""), {}),
        eval_metrics=_json(row.get("eval_metrics", ""), {}), losses=_json(row.get("losses", ""), {}),
        eval_return=_float(row.get("eval_return", "nan")))


def _generation(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, text in row.items():
        value = _float(text)
        out[key] = text if math.isnan(value) and text not in ("nan", "") else value
    if "generation" in out:
        out["generation"] = int(out["generation"])
    return out


def load_run(run_dir: str | Path) -> RunData:
    """Read ``metrics.csv`` and ``generations.csv`` of a run folder.

    Raises:
        ConfigError: ``run_dir`` does not exist or holds no ``metrics.csv`` with at least one member row.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ConfigError("run_dir", str(path), "must be an existing run folder (e.g. populations/<run>)")
    member_path = path / MEMBER_FILE
    if not member_path.exists():
        raise ConfigError("run_dir", str(path), f"holds no {MEMBER_FILE}: not an evo-marl run folder, "
                          "or no generation has finished yet")
    with open(member_path, newline="", encoding="utf-8", errors="replace") as f:
        members, torn = [], 0
        for row in csv.DictReader(f):
            try:
                if None in row or None in row.values():  # a row cut short by a kill (a resume drops it)
                    raise ValueError("incomplete row")
                members.append(_member(row))
            except (TypeError, ValueError):
                torn += 1
    if torn:
        logger.warning("%s: skipped %d incomplete row(s) (written when the run was killed)", member_path, torn)
    if not members:
        raise ConfigError("run_dir", str(path), f"{MEMBER_FILE} has no member rows yet (no generation finished)")
    generations: list[dict[str, Any]] = []
    if (path / GENERATION_FILE).exists():
        with open(path / GENERATION_FILE, newline="") as f:
            generations = [_generation(r) for r in csv.DictReader(f) if (r.get("generation") or "").isdigit()]
    return RunData(path, members, generations, *_fitness_definition(path))


def _fitness_definition(run_dir: Path) -> tuple[str, int]:
    """``(fitness_metric, fitness_window)`` from the run's newest checkpoint (defaults where there is none)."""
    latest = latest_complete_generation(run_dir)
    manifest = read_manifest(latest) if latest is not None else {}
    return str(manifest.get("fitness_metric", RETURN)), int(manifest.get("fitness_window", 1))


def read_wandb_info(run_dir: str | Path) -> dict[str, Any] | None:
    """The W&B run facts the W&B writer stored in ``<run_dir>/wandb_run.json`` (None when W&B was off)."""
    path = Path(run_dir) / WANDB_ID_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, OSError):
        return None
