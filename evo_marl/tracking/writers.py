"""Metric writers: every generation record fans out to CSV (always), a progress line, and optional
backends (W&B, ...). A writer that raises is disabled with one warning; training goes on."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Protocol

from evo_marl.tracking.records import GenerationRecord

logger = logging.getLogger(__name__)
MEMBER_FILE = "metrics.csv"
GENERATION_FILE = "generations.csv"


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

    Rows of generations after ``resume_after`` are dropped on start, so a resumed run never duplicates rows.
    """

    MEMBER_COLUMNS = ["generation", "index", "parent", "mutation", "fitness", "steps", "train_score", "failed",
                      "activation", "parameter_count", "architecture", "hyperparameters", "eval_metrics", "losses",
                      "eval_return"]

    def __init__(self, run_dir: str | Path, resume_after: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.member_path = self.run_dir / MEMBER_FILE
        self.generation_path = self.run_dir / GENERATION_FILE
        for path in (self.member_path, self.generation_path):
            if resume_after is None:
                path.unlink(missing_ok=True)
            elif path.exists():
                self._truncate(path, resume_after)
        self._generation_columns: list[str] | None = None
        if self.generation_path.exists():
            with open(self.generation_path, newline="") as f:
                self._generation_columns = next(csv.reader(f), None)

    @staticmethod
    def _truncate(path: Path, last_generation: int) -> None:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= last_generation]
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(kept)

    def write_generation(self, record: GenerationRecord) -> None:
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
