"""Atomic per-generation checkpoints of a population under ``populations/<run>/generation_<g>/``.

A generation folder holds ``manifest.json`` (run state, run signature, member summaries and lineage),
one ``member_<k>.pt`` per member (state dicts of tensors and plain data), and optionally ``buffer.pt``.
It is written into a temporary folder and renamed into place, so a crash never leaves a half-written
generation. Every ``.pt`` file is read with ``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from evo_marl.errors import CheckpointError

logger = logging.getLogger(__name__)
FORMAT_VERSION = 1
_GEN_RE = re.compile(r"^generation_(\d+)$")


def generation_dirs(run_dir: str | Path) -> list[Path]:
    """Complete generation folders of a run, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := _GEN_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def save_generation(run_dir: str | Path, generation: int, population: list, run_state: dict[str, Any],
                    memory=None, keep: int | None = 3) -> Path:
    """Write generation ``generation`` atomically and keep only the newest ``keep`` folders (None: all)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / f"generation_{generation:05d}"
    tmp = run_dir / f".generation_{generation:05d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    members = []
    for k, member in enumerate(population):
        torch.save(member.state_dict(), tmp / f"member_{k}.pt")
        members.append({"file": f"member_{k}.pt", "algo": member.algo_name, **member.meta(),
                        "hyperparameters": member.hyperparameters(), "architecture": member.architecture(),
                        "activation": member.activation})
    if memory is not None:
        torch.save(memory.state_dict(), tmp / "buffer.pt")
    manifest = {"format_version": FORMAT_VERSION, "generation": generation, "members": members,
                "has_buffer": memory is not None, **run_state}
    with open(tmp / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=1, default=_json_default)
        f.flush()
        os.fsync(f.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if keep is not None:
        for old in generation_dirs(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def read_manifest(generation_dir: str | Path) -> dict[str, Any]:
    path = Path(generation_dir) / "manifest.json"
    if not path.exists():
        raise CheckpointError(f"{path}: missing; {generation_dir} is not a complete generation folder")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: corrupt JSON ({err})") from err
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version={manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
    for key in ("generation", "members"):
        if key not in manifest:
            raise CheckpointError(f"{path}: field {key!r} is missing")
    return manifest


def load_tensor_file(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with an error that names the file."""
    if not path.exists():
        raise CheckpointError(f"{path}: missing")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: unreadable or not a weights-only checkpoint ({type(err).__name__}: {err})") from err


def load_population(generation_dir: str | Path, device: str | torch.device = "cpu") -> list:
    """Rebuild the members saved in a generation folder."""
    from evo_marl.algorithms.registry import get_algorithm

    generation_dir = Path(generation_dir)
    manifest = read_manifest(generation_dir)
    population = []
    for entry in manifest["members"]:
        state = load_tensor_file(generation_dir / entry["file"], device)
        if not isinstance(state, dict) or "algo" not in state:
            raise CheckpointError(f"{generation_dir / entry['file']}: not a member state dict")
        cls = get_algorithm(state["algo"])
        obs_spaces, act_spaces = cls.spaces_from_state(state)
        from evo_marl.hpo.parameters import HyperparameterConfig

        try:
            member = cls(obs_spaces, act_spaces, agent_ids=state["agent_ids"], index=entry["index"],
                         net_config=manifest.get("net_config"), share_params=state["share_params"],
                         hp_config=HyperparameterConfig.from_dict(state["hp_config"]),
                         num_envs=manifest.get("num_envs", 1), device=device, **state["hyperparameters"])
        except Exception as err:
            raise CheckpointError(f"{generation_dir / entry['file']}: cannot rebuild the member ({err})") from err
        member.load_state_dict(state)
        population.append(member)
    return population


def latest_generation(run_dir: str | Path) -> Path | None:
    """The newest complete generation folder of a run, or None."""
    dirs = generation_dirs(run_dir)
    return dirs[-1] if dirs else None


def check_signature(saved: dict[str, Any], current: dict[str, Any], where: str | Path) -> None:
    """Raise CheckpointError naming the first field where a checkpoint's run signature differs."""
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise CheckpointError(
                f"{where}: checkpoint is from another configuration: {key} was {saved.get(key)!r}, "
                f"now {current.get(key)!r} (use a new run directory, or the original configuration)"
            )
