"""MLflow metric writer: one MLflow run per experiment, one ``log_batch`` per generation.

Needs ``pip install 'evo-marl[mlflow]'`` (mlflow-skinny, with SQLAlchemy and Alembic for the local store).
Per generation, with the generation number as the metric step, it logs the numeric metrics of the W&B writer
(``evo/...``, ``train/...``, ``time/...``, ``eval/...``, ``member/<id>/...`` including ``parent`` and
``hp/<name>``) and the artifact ``population/generation_<g>.json``: the population table with the lineage
(parent, mutation text and kind), fitness, architecture and hyperparameters of every member. Parameters
hold the experiment config (flattened: ``training.max_steps``, ``init_hp.BATCH_SIZE``, ...), the population
size and the starting hyperparameters; tags hold ``best_member``, ``best_fitness``, ``stop_reason``.

**Store.** By default a SQLite store inside the run folder, ``<run_dir>/mlruns/mlflow.db``, with artifacts
in ``<run_dir>/mlruns/artifacts`` (MLflow >= 3.13 refuses its old ``./mlruns`` file store unless
``MLFLOW_ALLOW_FILE_STORE=true``; SQLite is its default since 3.7). ``tracking_uri`` (or the
``MLFLOW_TRACKING_URI`` environment variable) points it anywhere else: a shared database, a tracking server.

**Resume.** The run id is kept in ``<run_dir>/mlflow_run.json``; a resumed experiment continues the same
MLflow run (parameters never change in MLflow: a config value that differs on resume becomes the tag
``resumed_config.<key>``). MLflow cannot delete logged points, so when the interrupted run had logged
generations past its last checkpoint, the writer copies the history before the resumed generation into a new
MLflow run (tagged ``evo_marl.resumed_from``; the old one gets ``evo_marl.superseded_by``) and continues there:
no step is ever logged twice and every chart shows what the checkpointed population did.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from evo_marl.errors import ConfigError, EvoMarlError
from evo_marl.tracking.wandb_writer import _scalar, generation_metrics, table_rows
from evo_marl.tracking.writers import MEMBER_FILE
from evo_marl.tracking.records import GenerationRecord

logger = logging.getLogger(__name__)
MLFLOW_ID_FILE = "mlflow_run.json"
STORE_SUBDIR = "mlruns"
DEFAULT_EXPERIMENT = "evo-marl"
POPULATION_DIR = "population"
MARKER = "train/total_steps"  # always finite, logged every generation: its steps are the logged generations
MAX_METRICS, MAX_PARAMS, MAX_PARAM_LENGTH = 1000, 100, 6000  # MLflow's per-batch and per-value limits


class MLflowUnavailable(EvoMarlError, RuntimeError):
    """MLflow could not be imported or could not start a run (training goes on without it)."""


def default_tracking_uri(run_dir: str | Path) -> str:
    """The run folder's own SQLite store: ``sqlite:///<run_dir>/mlruns/mlflow.db``."""
    return "sqlite:///" + str((Path(run_dir) / STORE_SUBDIR / "mlflow.db").resolve())


def local_artifact_root(tracking_uri: str) -> str | None:
    """``<folder of the database>/artifacts`` for a local SQLite store (MLflow's own default is ``./mlruns``
    in the working directory); None (the store or server decides) for anything else. Creates the folder."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix) or tracking_uri[len(prefix):] in ("", ":memory:"):
        return None
    folder = Path(tracking_uri[len(prefix):]).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    return (folder / "artifacts").as_uri()


def flatten_params(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts as ``a.b.c`` keys; lists and other values as text (at most MLflow's 6000 characters)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten_params(value, name + "."))
        else:
            text = json.dumps(value, default=str) if isinstance(value, (list, tuple, dict)) else str(value)
            out[name] = text if len(text) <= MAX_PARAM_LENGTH else text[:MAX_PARAM_LENGTH - 3] + "..."
    return out


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


class MLflowWriter:
    """A :class:`~evo_marl.tracking.writers.MetricWriter` that logs to MLflow.

    Args:
        run_dir: the run folder (holds ``mlflow_run.json`` and, by default, the store in ``mlruns/``).
        config: the experiment configuration, logged as flattened parameters.
        tracking_uri: where to log (None: ``MLFLOW_TRACKING_URI`` if set, else the run folder's SQLite store).
        experiment_name: the MLflow experiment (created if missing).
        run_name: the MLflow run name (default: the run folder's name). tags: extra run tags.
        artifact_location: artifact root of a newly created experiment (default: ``artifacts/`` beside a local
            SQLite database, so ``<run_dir>/mlruns/artifacts`` for the default store; the server's choice otherwise).
        resume: continue the MLflow run stored in ``run_dir``. None: continue it when the run folder already
            holds metrics.
        member_key: ``"index"`` (``member/<member id>/...``) or ``"slot"`` (position in the population).
        log_population: write the ``population/generation_<g>.json`` artifact every generation.

    Raises:
        MLflowUnavailable: mlflow is not installed or the store cannot be opened.
        ConfigError: an invalid ``member_key`` or ``experiment_name``.
    """

    def __init__(self, run_dir: str | Path, config: dict | None = None, tracking_uri: str | None = None,
                 experiment_name: str = DEFAULT_EXPERIMENT, run_name: str | None = None,
                 tags: dict[str, str] | None = None, artifact_location: str | None = None,
                 resume: bool | None = None, member_key: str = "index", log_population: bool = True):
        if member_key not in ("index", "slot"):
            raise ConfigError("member_key", member_key, "must be 'index' or 'slot'")
        if not isinstance(experiment_name, str) or not experiment_name:
            raise ConfigError("experiment_name", experiment_name, "must be a non-empty string")
        try:
            from mlflow.entities import Metric, Param, RunTag
            from mlflow.tracking import MlflowClient
        except ImportError as err:
            raise MLflowUnavailable(f"mlflow is not installed ({err}); "
                                    "`pip install 'evo-marl[mlflow]'` to log to MLflow") from err
        self._Metric, self._Param, self._RunTag = Metric, Param, RunTag
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.member_key, self.log_population = member_key, log_population
        self.tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(run_dir)
        self.config, self._tags = dict(config or {}), dict(tags or {})
        self._hp_names: list[str] | None = None
        self._best = -math.inf
        try:
            if artifact_location is None:
                artifact_location = local_artifact_root(self.tracking_uri)
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
            experiment = self.client.get_experiment_by_name(experiment_name)
            self.experiment_id = (experiment.experiment_id if experiment is not None else
                                  self.client.create_experiment(experiment_name, artifact_location=artifact_location))
            previous = self._stored_info()
            if resume is None:
                resume = previous is not None and (self.run_dir / MEMBER_FILE).exists()
            self.run_id = self._continue(previous) if resume and previous else None
            self.resumed = self.run_id is not None
            if self.run_id is None:
                self.run_id = self._new_run(run_name or self.run_dir.name)
            self._store_info()
        except Exception as err:  # a bad URI, an unreachable server, a broken store: MLflow stays off
            raise MLflowUnavailable(f"MLflow at {self.tracking_uri} failed ({type(err).__name__}: "
                                    f"{str(err).strip()})") from err
        self._first_write = True
        logger.info("MLflow run %s in experiment %r at %s%s", self.run_id, experiment_name, self.tracking_uri,
                    " (resumed)" if self.resumed else "")

    # ------------------------------------------------------------------ set-up
    def _stored_info(self) -> dict[str, Any] | None:
        path = self.run_dir / MLFLOW_ID_FILE
        try:
            return json.loads(path.read_text()) if path.exists() else None
        except (json.JSONDecodeError, OSError) as err:
            logger.warning("%s is unreadable (%s); a new MLflow run is started", path, err)
            return None

    def _store_info(self) -> None:
        info = {"run_id": self.run_id, "experiment_id": self.experiment_id, "tracking_uri": self.tracking_uri}
        tmp = self.run_dir / (MLFLOW_ID_FILE + ".tmp")
        tmp.write_text(json.dumps(info, indent=1))
        os.replace(tmp, self.run_dir / MLFLOW_ID_FILE)

    def _continue(self, previous: dict[str, Any]) -> str | None:
        """The stored run id when it lives in this store, marked running again; None otherwise."""
        if previous.get("tracking_uri") != self.tracking_uri or not previous.get("run_id"):
            logger.warning("the MLflow run stored in %s belongs to %s, not %s; a new MLflow run is started",
                           self.run_dir, previous.get("tracking_uri"), self.tracking_uri)
            return None
        try:
            run = self.client.get_run(previous["run_id"])
        except Exception as err:  # the store no longer holds it (recreated, or another database at that path)
            logger.warning("MLflow run %s is not in %s (%s); a new MLflow run is started", previous["run_id"],
                           self.tracking_uri, type(err).__name__)
            return None
        if run.info.lifecycle_stage != "active":
            logger.warning("MLflow run %s was deleted; a new MLflow run is started", previous["run_id"])
            return None
        self.client.update_run(run.info.run_id, status="RUNNING")
        logged, config = dict(run.data.params), flatten_params({"config": self.config})
        self._log(params=[(k, v) for k, v in config.items() if k not in logged],  # MLflow params never change:
                  tags=[(f"resumed_{k}", v) for k, v in config.items() if k in logged and logged[k] != v],
                  run_id=run.info.run_id)                            # a changed value becomes a tag
        best = run.data.tags.get("best_fitness")
        self._best = float(best) if best else -math.inf
        return run.info.run_id

    def _new_run(self, run_name: str) -> str:
        tags = {"evo_marl.run_dir": str(self.run_dir.resolve()), **self._tags}
        run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id
        self._log(params=list(flatten_params({"config": self.config}).items()), run_id=run_id)
        return run_id

    def _log(self, metrics: list | None = None, params: list | None = None, tags: list | None = None,
             run_id: str | None = None) -> None:
        run_id = run_id or self.run_id
        now = int(time.time() * 1000)
        metric_objs = [m if isinstance(m, self._Metric) else self._Metric(m[0], m[1], now, m[2])
                       for m in metrics or []]
        for chunk in _chunks(metric_objs, MAX_METRICS):
            self.client.log_batch(run_id, metrics=chunk)
        for chunk in _chunks([self._Param(k, v) for k, v in params or []], MAX_PARAMS):
            self.client.log_batch(run_id, params=chunk)
        for chunk in _chunks([self._RunTag(k, str(v)) for k, v in tags or []], MAX_PARAMS):
            self.client.log_batch(run_id, tags=chunk)

    # ------------------------------------------------------------------ resume without duplicate steps
    def _fork_if_stale(self, generation: int) -> None:
        """Move to a fresh run holding the history before ``generation`` if the old one logged it or later."""
        logged = [m.step for m in self.client.get_metric_history(self.run_id, MARKER)]
        if not logged or max(logged) < generation:
            return
        old = self.client.get_run(self.run_id)
        new_id = self.client.create_run(self.experiment_id, run_name=old.info.run_name,
                                        tags={**{k: v for k, v in old.data.tags.items()
                                                 if not k.startswith("mlflow.")},
                                              "evo_marl.resumed_from": old.info.run_id}).info.run_id
        history = [m for key in old.data.metrics for m in self.client.get_metric_history(old.info.run_id, key)
                   if m.step < generation]
        self._log(metrics=history, params=list(old.data.params.items()), run_id=new_id)
        self._copy_population(old.info.run_id, new_id, generation)
        self.client.set_tag(old.info.run_id, "evo_marl.superseded_by", new_id)
        self.client.set_terminated(old.info.run_id, status="KILLED")
        logger.info("MLflow run %s had logged generations %d-%d past the checkpoint; continuing in run %s",
                    old.info.run_id, generation, max(logged), new_id)
        self.run_id = new_id
        self._best = max((m.value for m in history if m.key == "evo/best_fitness"), default=-math.inf)
        self._store_info()

    def _copy_population(self, old_id: str, new_id: str, generation: int) -> None:
        if not any(f.path == POPULATION_DIR for f in self.client.list_artifacts(old_id)):
            return
        with tempfile.TemporaryDirectory() as tmp:
            for info in self.client.list_artifacts(old_id, POPULATION_DIR):
                if int(Path(info.path).stem.rsplit("_", 1)[-1]) < generation:
                    local = self.client.download_artifacts(old_id, info.path, tmp)
                    self.client.log_artifact(new_id, local, POPULATION_DIR)

    # ------------------------------------------------------------------ MetricWriter
    def write_generation(self, record: GenerationRecord) -> None:
        """Log one generation; on failure the run is marked FAILED and the error re-raised (WriterGroup warns)."""
        try:
            if self._first_write:
                if self.resumed:
                    self._fork_if_stale(record.generation)
                else:
                    self._describe_population(record)
                self._first_write = False
            metrics = []
            for name, value in generation_metrics(record, self.member_key).items():
                value = _scalar(value)
                if name != "generation" and isinstance(value, (int, float)) and math.isfinite(value):
                    metrics.append((name, float(value), record.generation))
            tags = [("stop_reason", record.stop_reason or "")]
            best = record.best
            if math.isfinite(best.fitness) and best.fitness >= self._best:
                self._best = best.fitness
                tags += [("best_member", best.index), ("best_member_generation", record.generation),
                         ("best_fitness", repr(best.fitness))]
            self._log(metrics=metrics, tags=tags)
            if self.log_population:
                if self._hp_names is None:
                    self._hp_names = sorted({k for m in record.members for k, v in m.hyperparameters.items()
                                             if _scalar(v) is not None})
                columns, rows = table_rows(record, self._hp_names)
                self.client.log_dict(self.run_id, {"columns": columns, "rows": rows},
                                     f"{POPULATION_DIR}/generation_{record.generation:05d}.json")
        except Exception:
            self._terminate("FAILED")
            raise

    def _describe_population(self, record: GenerationRecord) -> None:
        first = record.members[0]
        self._log(params=list(flatten_params({
            "population_size": len(record.members), "initial_hp": first.hyperparameters,
            "initial_architecture": first.architecture, "activation": first.activation}).items()))

    def _terminate(self, status: str) -> None:
        run_id, self.run_id = self.run_id, None
        if run_id is not None:
            try:
                self.client.set_terminated(run_id, status=status)
            except Exception as err:
                logger.debug("MLflow set_terminated failed: %s", err)

    def close(self) -> None:
        """Mark the MLflow run FINISHED."""
        self._terminate("FINISHED")
