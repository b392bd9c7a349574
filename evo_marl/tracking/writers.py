"""Metric writers: every generation record fans out to CSV (always), a progress line, and optional
backends (W&B, ...). A writer that raises is disabled with one warning and training goes on, except for
a :class:`~evo_marl.errors.StorageError` (the run folder cannot be written), which stops the run."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Protocol

from evo_marl.errors import StorageError
from evo_marl.run_folder import GENERATION_FILE, MEMBER_FILE, storage_error, write_text_atomic
from evo_marl.tracking.records import GenerationRecord

logger = logging.getLogger(__name__)


class MetricWriter(Protocol):
    """Receives one :class:`GenerationRecord` per generation."""

    def write_generation(self, record: GenerationRecord) -> None: ...

    def close(self) -> None: ...


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


class CSVWriter:
    """``metrics.csv`` (one row per member per generation) and ``generations.csv`` (one row per generation).

    Rows of generations after ``resume_after`` are dropped on start (the file is replaced atomically, and a
    row torn by a kill is dropped too), so a resumed run never duplicates or half-keeps rows. A failed write
    (disk full, read-only) raises :class:`~evo_marl.errors.StorageError`: the metrics are the run's record,
    so the run stops instead of going on without them.
    """

    MEMBER_COLUMNS = ["generation", "index", "parent", "mutation", "fitness", "steps", "train_score", "failed",
                      "activation", "parameter_count", "architecture", "hyperparameters", "eval_metrics", "losses",
                      "eval_return"]

    def __init__(self, run_dir: str | Path, resume_after: int | None = None):
        self.run_dir = Path(run_dir)
        self.member_path = self.run_dir / MEMBER_FILE
        self.generation_path = self.run_dir / GENERATION_FILE
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for path in (self.member_path, self.generation_path):
                if resume_after is None:
                    path.unlink(missing_ok=True)
                elif path.exists():
                    self._truncate(path, resume_after)
        except OSError as err:
            if isinstance(err, StorageError):
                raise
            raise storage_error(self.run_dir, err, self.run_dir, action="prepare the metrics files in") from err
        self._generation_columns: list[str] | None = None
        if self.generation_path.exists():
            with open(self.generation_path, newline="") as f:
                self._generation_columns = next(csv.reader(f), None)

    def _truncate(self, path: Path, last_generation: int) -> None:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        header = rows[0]
        kept = [header] + [r for r in rows[1:] if len(r) == len(header) and r[0].isdigit()
                           and int(r[0]) <= last_generation]
        if len(kept) == len(rows):
            return
        text = io.StringIO()
        csv.writer(text).writerows(kept)
        write_text_atomic(path, text.getvalue(), self.run_dir)

    def write_generation(self, record: GenerationRecord) -> None:
        try:
            self._append(record)
        except OSError as err:
            if isinstance(err, StorageError):
                raise
            raise storage_error(err.filename or self.member_path, err, self.run_dir,
                                action=f"append generation {record.generation} to") from err

    def _append(self, record: GenerationRecord) -> None:
        new_file = not self.member_path.exists()
        with open(self.member_path, "a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(self.MEMBER_COLUMNS)
            for m in record.members:
                writer.writerow([_fmt(v) for v in (
                    record.generation, m.index, m.parent, m.mutation, m.fitness, m.steps, m.train_score, m.failed,
                    m.activation, m.parameter_count, m.architecture, m.hyperparameters, m.eval_metrics, m.losses,
                    m.eval_return)])
        summary = record.summary()
        if self._generation_columns is None:
            self._generation_columns = list(summary)
        with open(self.generation_path, "a", newline="") as f:
            writer = csv.writer(f)
            if f.tell() == 0:
                writer.writerow(self._generation_columns)
            writer.writerow([_fmt(summary.get(c)) for c in self._generation_columns])

    def close(self) -> None:
        pass


class RecordList:
    """Keeps every generation's :class:`GenerationRecord` in ``records`` (pass it in ``writers=[...]`` to read a
    run's records in Python: a notebook, a benchmark, a test)."""

    def __init__(self):
        self.records: list[GenerationRecord] = []

    def write_generation(self, record: GenerationRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


class LogWriter:
    """One concise log line per generation (shown on the console by the CLI)."""

    def write_generation(self, record: GenerationRecord) -> None:
        logger.info("gen %d | steps %d | fitness best %.3f mean %.3f | %.0f transitions/s | best member %d (%s)",
                    record.generation, record.total_steps, record.best_fitness, record.mean_fitness,
                    record.transitions_per_second, record.best.index, record.best.mutation)

    def close(self) -> None:
        pass


class WriterGroup:
    """Fans a record out to several writers; a writer that raises is disabled with one warning."""

    def __init__(self, writers: list[MetricWriter]):
        self.writers = list(writers)

    def write_generation(self, record: GenerationRecord) -> None:
        for writer in list(self.writers):
            try:
                writer.write_generation(record)
            except StorageError:  # the run folder cannot be written: stop, with the writer's message
                raise
            except Exception as err:  # a failing logger never stops training
                logger.warning("metric writer %s failed (%s: %s); it is disabled for the rest of the run",
                               type(writer).__name__, type(err).__name__, err)
                self.writers.remove(writer)

    def close(self) -> None:
        for writer in self.writers:
            try:
                writer.close()
            except Exception as err:
                logger.warning("metric writer %s failed to close: %s", type(writer).__name__, err)
