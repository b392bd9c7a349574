"""Atomic per-generation checkpoints of a population under ``populations/<run>/generation_<g>/``.

A generation folder holds ``manifest.json`` (run state, run signature, member summaries and lineage),
one ``member_<k>.pt`` per member (state dicts of tensors and plain data), and optionally ``buffer.pt``.
It is written into a temporary folder and renamed into place, so a crash never leaves a half-written
generation. Every ``.pt`` file is read with ``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from evo_marl.algorithms.registry import get_algorithm
from evo_marl.errors import CheckpointError
from evo_marl.hpo.parameters import HyperparameterConfig
from evo_marl.run_folder import FORMAT_VERSION, generation_dirs, latest_generation, read_manifest, write_json

__all__ = ["check_signature", "generation_dirs", "latest_generation", "load_population", "load_tensor_file",
           "read_manifest", "save_generation"]

logger = logging.getLogger(__name__)


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
    write_json(tmp / "manifest.json", manifest)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if keep is not None:
        for old in generation_dirs(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


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
    generation_dir = Path(generation_dir)
    manifest = read_manifest(generation_dir)
    population = []
    if not isinstance(manifest["members"], list):
        raise CheckpointError(f"{generation_dir / 'manifest.json'}: members must be a list")
    for entry in manifest["members"]:
        if not isinstance(entry, dict) or "file" not in entry or "index" not in entry:
            raise CheckpointError(f"{generation_dir / 'manifest.json'}: member entry {entry!r} needs 'file' and 'index'")
        state = load_tensor_file(generation_dir / entry["file"], device)
        if not isinstance(state, dict) or "algo" not in state:
            raise CheckpointError(f"{generation_dir / entry['file']}: not a member state dict")
        try:
            cls = get_algorithm(state["algo"])
            obs_spaces, act_spaces = cls.spaces_from_state(state)
            member = cls(obs_spaces, act_spaces, agent_ids=state["agent_ids"], index=entry["index"],
                         net_config=manifest.get("net_config"), share_params=state["share_params"],
                         hp_config=HyperparameterConfig.from_dict(state["hp_config"]),
                         num_envs=manifest.get("num_envs", 1), device=device, **state["hyperparameters"])
        except Exception as err:
            raise CheckpointError(f"{generation_dir / entry['file']}: cannot rebuild the member ({err})") from err
        member.load_state_dict(state)
        population.append(member)
    return population


def check_signature(saved: dict[str, Any], current: dict[str, Any], where: str | Path) -> None:
    """Raise CheckpointError naming the first field where a checkpoint's run signature differs."""
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise CheckpointError(
                f"{where}: checkpoint is from another configuration: {key} was {saved.get(key)!r}, "
                f"now {current.get(key)!r} (use a new run directory, or the original configuration)"
            )
