"""Mixed precision for batched learning: the hidden layers' matrix products in bfloat16.

With ``precision="bfloat16"`` every forward of a learning step (networks, targets, the critics an actor
loss reads) computes its hidden layers in bfloat16; the output layer, the losses, the gradients of the
parameters, the parameters themselves and Adam's state stay float32, and acting and evaluation are not
affected. On hardware with native bfloat16 matrix units (CPUs with AVX512-BF16 or AMX, recent GPUs) the
hidden layers' products run several times faster than in float32; elsewhere bfloat16 is emulated and
slower, which :func:`hidden_dtype` warns about. Measured: ``benchmarks/results/mixed_precision.md``.
"""

from __future__ import annotations

import functools
import logging

import torch

from evo_marl import validation
from evo_marl.errors import ConfigError

PRECISIONS = ("float32", "bfloat16")

logger = logging.getLogger(__name__)


def check_precision(field: str, precision: str, batched_learning: bool, batched_field: str) -> None:
    """ConfigError (naming ``field``) for an unknown precision or bfloat16 without batched learning."""
    validation.one_of(field, precision, PRECISIONS)
    if precision != "float32" and not batched_learning:
        raise ConfigError(field, precision, f"needs {batched_field} (members learning one by one learn in float32)")


def native_bfloat16(device: torch.device) -> bool | None:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (None: torch cannot tell)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if device.type == "cpu":
        try:
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except AttributeError:  # private probes: absent from some torch builds
            return None
    return None


@functools.lru_cache(maxsize=None)
def _warn_emulated(device: str) -> None:
    logger.warning("precision bfloat16 on %s, which has no native bfloat16 matrix units: learning will be slower "
                   "than in float32 (use precision float32)", device)


def hidden_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype of the hidden layers' products in learning: None (float32) or ``torch.bfloat16``."""
    if precision == "float32":
        return None
    validation.one_of("precision", precision, PRECISIONS)
    if native_bfloat16(device) is False:
        _warn_emulated(str(device))
    return torch.bfloat16
