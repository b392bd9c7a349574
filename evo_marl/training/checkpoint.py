"""Atomic per-generation checkpoints under ``<run>/generation_<g>/`` and the best member ever evaluated in
``<run>/best/``.

A generation folder holds ``manifest.json`` (run state, run signature, member summaries and lineage),
one ``member_<k>.pt`` per member (state dicts of tensors and plain data), and optionally ``buffer.pt``.
It is written into a temporary folder (every file fsynced) and renamed into place, so a crash never
leaves a half-written generation; a write that fails (disk full, read-only) removes the temporary folder
and raises a :class:`~evo_marl.errors.StorageError` saying what the run folder still holds. ``best/`` has
the same layout with one member and is never rotated away. Every ``.pt`` file is read with
``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from evo_marl.algorithms.registry import get_algorithm
from evo_marl.errors import CheckpointError, StorageError
from evo_marl.hpo.parameters import HyperparameterConfig
from evo_marl.run_folder import (BEST_DIR, FORMAT_VERSION, complete_generations, generation_dirs,
                                 generation_number, latest_generation, read_manifest, replace_dir, resolve_checkpoint,
                                 storage_error, write_json)

__all__ = ["check_signature", "generation_dirs", "latest_generation", "load_population", "load_tensor_file",
           "member_from_state", "read_manifest", "save_best", "save_generation"]

logger = logging.getLogger(__name__)


def _save_tensors(obj: Any, path: Path) -> None:
    """``torch.save`` through our own file handle (so a failed write is an ``OSError`` naming the cause), fsynced."""
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def member_entry(member, k: int) -> dict[str, Any]:
    """A member's summary in a manifest (its file, lineage, hyperparameters and architecture)."""
    return {"file": f"member_{k}.pt", "algo": member.algo_name, **member.meta(),
            "hyperparameters": member.hyperparameters(), "architecture": member.architecture(),
            "activation": member.activation}


def write_checkpoint(run_dir: Path, name: str, generation: int, population: list, run_state: dict[str, Any],
                     memory=None) -> Path:
    """Write ``population`` (and ``memory``) as ``run_dir/name`` through a temporary folder, atomically.

    Raises:
        StorageError: a write failed; the temporary folder is removed and ``run_dir/name`` is left as it was.
    """
    final, tmp = run_dir / name, run_dir / f".{name}.tmp"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for k, member in enumerate(population):
            _save_tensors(member.state_dict(), tmp / f"member_{k}.pt")
        if memory is not None:
            _save_tensors(memory.state_dict(), tmp / "buffer.pt")
        manifest = {"format_version": FORMAT_VERSION, "generation": generation,
                    "members": [member_entry(m, k) for k, m in enumerate(population)],
                    "has_buffer": memory is not None, **run_state}
        write_json(tmp / "manifest.json", manifest)
        replace_dir(tmp, final)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        cause = _os_error(err)
        if cause is not None and not isinstance(err, StorageError):
            raise storage_error(final, cause, run_dir, action="write the checkpoint") from err
        raise
    return final


def _os_error(err: BaseException | None) -> OSError | None:
    """The ``OSError`` behind ``err`` (torch reports a failed write as a RuntimeError raised while handling it)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def save_generation(run_dir: str | Path, generation: int, population: list, run_state: dict[str, Any],
                    memory=None, keep: int | None = 3, keep_every: int | None = None) -> Path:
    """Write generation ``generation`` atomically and keep only the newest ``keep`` complete folders (None: all)
    and, with ``keep_every``, those of every generation that is a multiple of it."""
    run_dir = Path(run_dir)
    final = write_checkpoint(run_dir, f"generation_{generation:05d}", generation, population, run_state, memory)
    if keep is not None:
        complete = complete_generations(run_dir)
        kept = set(complete[-keep:]) | {final}
        if keep_every is not None:
            kept |= {path for path in complete if generation_number(path) % keep_every == 0}
        for old in generation_dirs(run_dir):
            if old not in kept:
                shutil.rmtree(old, ignore_errors=True)
    return final


def save_best(run_dir: str | Path, generation: int, member, fitness: float, run_state: dict[str, Any]) -> Path:
    """Replace ``run_dir/best/`` with ``member`` as evaluated in ``generation`` (its fitness: ``fitness``)."""
    state = dict(run_state, best={"generation": generation, "index": member.index, "fitness": float(fitness)})
    return write_checkpoint(Path(run_dir), BEST_DIR, generation, [member], state)


def load_tensor_file(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with an error that names the file."""
    if not path.exists():
        raise CheckpointError(f"{path}: missing")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: unreadable or not a weights-only checkpoint ({type(err).__name__}: {err})") from err


def load_population(path: str | Path, device: str | torch.device = "cpu", *, best: bool = False) -> list:
    """Rebuild the members saved in a checkpoint folder.

    Args:
        path: a ``generation_<g>`` folder, a ``best/`` folder, or a run folder (its newest complete generation;
            a newer incomplete one is skipped with a warning).
        best: with a run folder, load its ``best/`` checkpoint (one member: the best ever evaluated).

    Raises:
        CheckpointError: naming the folder or file that is missing, corrupt or incomplete.
    """
    generation_dir = resolve_checkpoint(path, best=best)
    manifest = read_manifest(generation_dir)
    population = []
    for entry in manifest["members"]:
        if "index" not in entry:
            raise CheckpointError(f"{generation_dir / 'manifest.json'}: member entry {entry!r:.80} has no 'index'")
        state = load_tensor_file(generation_dir / entry["file"], device)
        file = generation_dir / entry["file"]
        if not isinstance(state, dict) or "algo" not in state:
            raise CheckpointError(f"{file}: not a member state dict")
        try:
            member = member_from_state(state, entry["index"], manifest.get("net_config"),
                                       manifest.get("num_envs", 1), device)
        except CheckpointError as err:
            raise CheckpointError(f"{file}: {err}") from err
        population.append(member)
    return population


def member_from_state(state: dict[str, Any], index: int, net_config: dict | None, num_envs: int,
                      device: str | torch.device = "cpu"):
    """A member rebuilt from its ``state_dict()`` (the checkpoint format; also how members travel between
    processes); raises CheckpointError when the state cannot be rebuilt."""
    try:
        cls = get_algorithm(state["algo"])
        obs_spaces, act_spaces = cls.spaces_from_state(state)
        member = cls(obs_spaces, act_spaces, agent_ids=state["agent_ids"], index=index, net_config=net_config,
                     share_params=state["share_params"], hp_config=HyperparameterConfig.from_dict(state["hp_config"]),
                     num_envs=num_envs, device=device, **state["hyperparameters"])
    except Exception as err:
        detail = f"missing key {err}" if isinstance(err, KeyError) else str(err)
        raise CheckpointError(f"cannot rebuild the member ({detail})") from err
    member.load_state_dict(state)
    return member


def check_signature(saved: dict[str, Any], current: dict[str, Any], where: str | Path) -> None:
    """Raise CheckpointError naming the first field where a checkpoint's run signature differs."""
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise CheckpointError(
                f"{where}: checkpoint is from another configuration: {key} was {saved.get(key)!r}, "
                f"now {current.get(key)!r} (use a new run directory, or the original configuration)"
            )
