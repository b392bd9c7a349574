"""TensorBoard metric writer: the numeric metrics of the W&B writer as TensorBoard scalars.

Needs the ``tensorboard`` package (``pip install 'evo-marl[tensorboard]'``). Event files go to
``<run_dir>/tensorboard/``; watch them with ``tensorboard --logdir populations/<run>/tensorboard``. Every
scalar's step is the generation number. The event file opens at the first generation written, purging
any older events from that generation on, so a resumed run's charts never show a generation twice.
"""

from __future__ import annotations

import math
from pathlib import Path

from evo_marl.errors import ConfigError, EvoMarlError
from evo_marl.tracking.wandb_writer import generation_metrics
from evo_marl.tracking.records import GenerationRecord

LOG_SUBDIR = "tensorboard"


class TensorBoardUnavailable(EvoMarlError, RuntimeError):
    """The tensorboard package is missing (training goes on without this writer)."""


class TensorBoardWriter:
    """A :class:`~evo_marl.tracking.writers.MetricWriter` that writes TensorBoard event files.

    Args:
        run_dir: the run folder; events go to ``run_dir/tensorboard`` unless ``log_dir`` is given.
        member_key: ``"index"`` (``member/<member id>/...``) or ``"slot"`` (position in the population).

    Raises:
        TensorBoardUnavailable: the tensorboard package is not installed.
    """

    def __init__(self, run_dir: str | Path, log_dir: str | Path | None = None, member_key: str = "index"):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise TensorBoardUnavailable(f"tensorboard is not installed ({err}); "
                                         "`pip install 'evo-marl[tensorboard]'` to write TensorBoard logs") from err
        if member_key not in ("index", "slot"):
            raise ConfigError("member_key", member_key, "must be 'index' or 'slot'")
        self._summary_writer = SummaryWriter
        self.log_dir = Path(log_dir) if log_dir is not None else Path(run_dir) / LOG_SUBDIR
        self.member_key = member_key
        self._writer = None

    def write_generation(self, record: GenerationRecord) -> None:
        if self._writer is None:  # purge what a previous (interrupted) run wrote from this generation on
            self._writer = self._summary_writer(log_dir=str(self.log_dir), purge_step=record.generation)
        for name, value in generation_metrics(record, self.member_key).items():
            if name == "generation" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                self._writer.add_scalar(name, value, global_step=record.generation)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
