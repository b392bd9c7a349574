"""Weights & Biases metric writer: one W&B run per experiment, one ``log`` call per generation.

Per generation it logs the population summary (``evo/...``, ``train/...``, ``time/...``), the episode
metrics of the best member (``eval/...``), every member (``member/<index>/...``: fitness, hyperparameters,
architecture size, mutation, parent, steps) and a ``population`` table. Every metric is charted against
``generation`` (``define_metric``), and ``evo/best_fitness`` keeps its maximum in the run summary.

The W&B run id is stored in ``<run_dir>/wandb_run.json``, so a resumed experiment continues the same W&B run.
Offline mode (``mode="offline"`` or ``WANDB_MODE=offline``) needs no network and no account; the files land
in ``<run_dir>/wandb/offline-run-*`` and upload later with ``wandb sync``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from evo_marl.errors import ConfigError, EvoMarlError
from evo_marl.tracking.run_data import WANDB_ID_FILE, mutation_kind
from evo_marl.tracking.wandb_offline import wait_until_complete
from evo_marl.tracking.writers import MEMBER_FILE
from evo_marl.tracking.records import GenerationRecord, MemberRecord

logger = logging.getLogger(__name__)
STEP_METRIC = "generation"
NAMESPACES = ("evo/*", "train/*", "eval/*", "time/*", "member/*", "population")
TABLE_KEY = "population"
FLUSH_TIMEOUT = 15.0  # seconds close() waits for W&B to write an offline run to disk
OFFLINE_HINT = "for logging without network or account pass wandb_kwargs={'mode': 'offline'} or set WANDB_MODE=offline"


def _version(module: Any) -> tuple[int, ...]:
    parts = []
    for part in str(getattr(module, "__version__", "0")).split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


class WandbUnavailable(EvoMarlError, RuntimeError):
    """W&B could not be imported or could not start a run (training goes on without it)."""


def _scalar(value: Any) -> float | int | str | None:
    """A value W&B can chart (bools become 0/1); None for anything that is not a number or a string."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, str) else None


def member_metrics(member: MemberRecord, key: int | str) -> dict[str, Any]:
    """The ``member/<key>/...`` scalars of one member."""
    prefix = f"member/{key}"
    out: dict[str, Any] = {
        f"{prefix}/index": member.index,
        f"{prefix}/fitness": member.fitness,
        f"{prefix}/train_score": member.train_score,
        f"{prefix}/steps": member.steps,
        f"{prefix}/parent": member.parent if member.parent is not None else -1,
        f"{prefix}/mutation": member.mutation,
        f"{prefix}/mutation_kind": mutation_kind(member.mutation, member.index, member.parent),
        f"{prefix}/parameter_count": member.parameter_count,
        f"{prefix}/hidden_units": sum(sum(layers) for layers in member.architecture.values()),
        f"{prefix}/activation": member.activation,
        f"{prefix}/failed": int(member.failed),
    }
    for name, value in member.hyperparameters.items():
        if (scalar := _scalar(value)) is not None:
            out[f"{prefix}/hp/{name}"] = scalar
    for name, value in member.losses.items():
        out[f"{prefix}/loss/{name}"] = value
    for name, value in member.eval_metrics.items():
        out[f"{prefix}/eval/{name}"] = value
    return out


def generation_metrics(record: GenerationRecord, member_key: str = "index") -> dict[str, Any]:
    """Everything logged for one generation except the table: summary, population statistics, members."""
    out = dict(record.summary())
    finite = [f for f in record.fitnesses if math.isfinite(f)]
    mean = sum(finite) / len(finite) if finite else math.nan
    out["evo/fitness_std"] = (math.sqrt(sum((f - mean) ** 2 for f in finite) / len(finite)) if finite else math.nan)
    out["evo/failed_members"] = sum(1 for m in record.members if m.failed or not math.isfinite(m.fitness))
    out["evo/best_parameter_count"] = record.best.parameter_count
    for slot, member in enumerate(record.members):
        out.update(member_metrics(member, member.index if member_key == "index" else slot))
    return out


def table_rows(record: GenerationRecord, hp_names: list[str]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the per-generation population table."""
    columns = ["generation", "index", "parent", "mutation", "mutation_kind", "fitness", "train_score", "steps",
               "parameter_count", "activation", "architecture", "failed"] + [f"hp/{n}" for n in hp_names]
    rows = []
    for m in record.members:
        rows.append([record.generation, m.index, m.parent if m.parent is not None else -1, m.mutation,
                     mutation_kind(m.mutation, m.index, m.parent), m.fitness, m.train_score, m.steps,
                     m.parameter_count, m.activation, json.dumps(m.architecture, sort_keys=True), m.failed]
                    + [_scalar(m.hyperparameters.get(n)) for n in hp_names])
    return columns, rows


class WandbWriter:
    """A :class:`~evo_marl.tracking.writers.MetricWriter` that logs to Weights & Biases.

    Args:
        run_dir: the run folder (the W&B id is kept in ``run_dir/wandb_run.json``; offline files go to
            ``run_dir/wandb/`` unless ``dir`` is given).
        config: the experiment configuration, stored as the W&B run config.
        project, entity, name, group, tags, mode, dir: passed to ``wandb.init`` (``mode=None`` lets
            ``WANDB_MODE`` decide).
        resume: continue the W&B run stored in ``run_dir``. None: continue it when the run folder already holds
            metrics (the trainer keeps ``metrics.csv`` only when it resumes).
        init_timeout: seconds ``wandb.init`` may take before it gives up (so a dead network cannot hang training).
        member_key: ``"index"`` logs ``member/<member index>/...`` (one series per lineage identity);
            ``"slot"`` logs ``member/<position in the population>/...`` (a fixed number of series for long runs).
        log_table: log the ``population`` table every generation.
        console: W&B console capture (``"off"`` leaves stdout alone; ``"wrap"`` uploads it).
        **init_kwargs: any other ``wandb.init`` keyword (``notes``, ``job_type``, ``settings``, ...).

    Raises:
        WandbUnavailable: wandb is not installed or ``wandb.init`` failed (no login, no network, bad settings).
        ConfigError: an invalid ``member_key``.
    """

    def __init__(self, run_dir: str | Path, config: dict | None = None, project: str | None = "evo-marl",
                 entity: str | None = None, name: str | None = None, group: str | None = None,
                 tags: list[str] | None = None, mode: str | None = None, dir: str | Path | None = None,
                 resume: bool | None = None, init_timeout: float = 30.0, member_key: str = "index",
                 log_table: bool = True, console: str = "off", **init_kwargs: Any):
        if member_key not in ("index", "slot"):
            raise ConfigError("member_key", member_key, "must be 'index' or 'slot'")
        try:
            import wandb
        except ImportError as err:
            raise WandbUnavailable(f"wandb is not installed ({err}); `pip install wandb` to log to W&B") from err
        self._wandb = wandb
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.member_key, self.log_table = member_key, log_table
        self._hp_names: list[str] | None = None
        previous = self._stored_info()
        if resume is None:
            resume = previous is not None and (self.run_dir / MEMBER_FILE).exists()
        run_id = previous.get("id") if (resume and previous) else None
        settings = init_kwargs.pop("settings", None)
        settings = dict(settings) if isinstance(settings, dict) else (settings or {})
        if isinstance(settings, dict):
            settings = wandb.Settings(**{"init_timeout": init_timeout, "console": console, **settings})
        reinit = init_kwargs.pop("reinit", "create_new" if _version(wandb) >= (0, 19, 10) else True)
        try:
            self.run = wandb.init(project=project, entity=entity, name=name or self.run_dir.name, group=group,
                                  tags=tags, mode=mode, dir=str(dir or self.run_dir), config=dict(config or {}),
                                  id=run_id, resume="allow" if run_id else None, reinit=reinit,
                                  settings=settings, **init_kwargs)
        except Exception as err:  # no login, no network, invalid settings: W&B stays off, training goes on
            raise WandbUnavailable(f"wandb.init failed ({type(err).__name__}: {str(err).strip()}); "
                                   f"{OFFLINE_HINT}") from err
        if self.run is None or not hasattr(self.run, "log"):
            raise WandbUnavailable(f"wandb.init returned no run; {OFFLINE_HINT}")
        try:
            self.run.config.update({"run_dir": str(self.run_dir.resolve())}, allow_val_change=True)
            self._define_metrics()
            self._store_info(previous if run_id else None)
        except Exception as err:
            self._finish(exit_code=1)
            raise WandbUnavailable(f"setting up the W&B run failed ({type(err).__name__}: {err})") from err
        self._best = self._csv_best() if run_id else -math.inf
        self._configured = bool(run_id)
        logger.info("W&B run %s (%s%s)%s", self.run.id, self._mode(), ", resumed" if run_id else "",
                    f": {self.run.url}" if self._mode() == "online" else "")

    # ------------------------------------------------------------------ set-up
    def _mode(self) -> str:
        settings = getattr(self.run, "settings", None)
        if getattr(self.run, "disabled", False) or getattr(settings, "mode", "") == "disabled":
            return "disabled"
        return "offline" if getattr(settings, "_offline", False) or getattr(settings, "mode", "") in (
            "offline", "dryrun") else "online"

    def _define_metrics(self) -> None:
        self.run.define_metric(STEP_METRIC)
        for pattern in NAMESPACES:
            self.run.define_metric(pattern, step_metric=STEP_METRIC)
        self.run.define_metric("evo/best_fitness", step_metric=STEP_METRIC, summary="max")
        self.run.define_metric("evo/mean_fitness", step_metric=STEP_METRIC, summary="max")

    def _stored_info(self) -> dict[str, Any] | None:
        path = self.run_dir / WANDB_ID_FILE
        try:
            return json.loads(path.read_text()) if path.exists() else None
        except (json.JSONDecodeError, OSError) as err:
            logger.warning("%s is unreadable (%s); a new W&B run is started", path, err)
            return None

    def _store_info(self, previous: dict[str, Any] | None) -> None:
        settings = getattr(self.run, "settings", None)
        sync_dir = getattr(settings, "sync_dir", None)
        offline_dirs = list((previous or {}).get("offline_dirs", []))
        mode = self._mode()
        if mode == "offline" and sync_dir and str(sync_dir) not in offline_dirs:
            offline_dirs.append(str(sync_dir))
        info = {"id": self.run.id, "project": getattr(self.run, "project", None),
                "entity": getattr(self.run, "entity", None), "name": getattr(self.run, "name", None),
                "mode": mode, "url": getattr(self.run, "url", None) if mode == "online" else None,
                "offline_dirs": offline_dirs}
        tmp = self.run_dir / (WANDB_ID_FILE + ".tmp")
        tmp.write_text(json.dumps(info, indent=1, default=str))
        os.replace(tmp, self.run_dir / WANDB_ID_FILE)

    # ------------------------------------------------------------------ MetricWriter
    def write_generation(self, record: GenerationRecord) -> None:
        """Log one generation; on failure the run is closed and the error re-raised (WriterGroup warns once)."""
        try:
            if not self._configured:
                self._describe_population(record)
            payload = generation_metrics(record, self.member_key)
            if self.log_table:
                if self._hp_names is None:
                    self._hp_names = sorted({k for m in record.members for k, v in m.hyperparameters.items()
                                             if _scalar(v) is not None})
                columns, rows = table_rows(record, self._hp_names)
                payload[TABLE_KEY] = self._wandb.Table(columns=columns, data=rows)
            self.run.log(payload)
            summary: dict[str, Any] = {"stop_reason": record.stop_reason or ""}
            best = record.best
            if math.isfinite(best.fitness) and best.fitness >= self._best:
                self._best = best.fitness
                summary.update(best_member=best.index, best_member_generation=record.generation)
            self.run.summary.update(summary)
        except Exception:
            self._finish(exit_code=1)
            raise

    def _csv_best(self) -> float:
        """The best fitness of the generations a resumed run already logged (from ``metrics.csv``)."""
        try:
            from evo_marl.tracking.run_data import load_run

            best = load_run(self.run_dir).best().fitness
            return best if math.isfinite(best) else -math.inf
        except Exception:
            return -math.inf

    def _describe_population(self, record: GenerationRecord) -> None:
        """Once per run: the starting population's size, hyperparameters and architecture in the W&B config."""
        first = record.members[0]
        self.run.config.update({"population_size": len(record.members),
                                "initial_hyperparameters": first.hyperparameters,
                                "initial_architecture": first.architecture, "activation": first.activation},
                               allow_val_change=True)
        self._configured = True

    def _finish(self, exit_code: int = 0) -> None:
        run, self.run = getattr(self, "run", None), None
        if run is not None:
            try:
                run.finish(exit_code=exit_code)
            except Exception as err:
                logger.debug("wandb finish failed: %s", err)

    def close(self) -> None:
        """Finish the W&B run; offline, wait (up to ``FLUSH_TIMEOUT`` s) until its files are complete on disk."""
        run = self.run
        offline_dir = getattr(getattr(run, "settings", None), "sync_dir", None) if run is not None else None
        offline = run is not None and self._mode() == "offline"
        self._finish()
        if offline and offline_dir and not wait_until_complete(offline_dir, timeout=FLUSH_TIMEOUT):
            logger.warning("the offline W&B run in %s was not complete on disk after %.0f s; W&B may still be "
                           "writing it", offline_dir, FLUSH_TIMEOUT)
