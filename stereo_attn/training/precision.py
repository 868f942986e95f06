"""``trainer.precision=auto``: bf16 autocast only where the hardware computes in bf16 natively.

Without bf16 units torch emulates bf16 convolutions, and the loss is not a few percent: on an
AVX2-only CPU (AMD EPYC, 2026-12-07) the default training step took 31.1 s under bf16-mixed against
0.82 s in 32-true (``scripts/bench_train.py``, docs/training.md), while a CPU with AMX runs bf16 1.2x
faster than fp32. GPUs before Ampere have no bf16 either; they get fp16 autocast with a loss scaler.
"""

from __future__ import annotations

import logging

import torch

AUTO = "auto"
BF16 = "bf16-mixed"
# oneDNN's bf16 kernels need AVX512-BF16 or AMX; torch exposes these CPU flags only privately.
CPU_BF16_FLAGS = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
log = logging.getLogger(__name__)


def native_bf16(device: str) -> bool:
    """Whether ``device`` ("cpu" or "cuda") computes bf16 in hardware rather than emulating it."""
    if device == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device == "cpu":
        return any(getattr(torch.cpu, flag, lambda: False)() for flag in CPU_BF16_FLAGS)
    return False


def device_type(accelerator: str) -> str:
    """Lightning's accelerator name -> the torch device type it trains on."""
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return {"gpu": "cuda"}.get(accelerator, accelerator)


def resolve_precision(precision: str, accelerator: str) -> str:
    """The Lightning precision to train with: ``auto`` becomes bf16-mixed where bf16 is native, else
    16-mixed on a GPU and 32-true elsewhere; any other value is kept, with a warning when it asks
    for bf16 that would be emulated."""
    device = device_type(accelerator)
    if precision == AUTO:
        chosen = BF16 if native_bf16(device) else "16-mixed" if device == "cuda" else "32-true"
        where = "GPU" if device == "cuda" else device.upper()
        log.info("trainer.precision=auto: %s on this %s", chosen, where)
        return chosen
    if precision == BF16 and device in ("cpu", "cuda") and not native_bf16(device):
        log.warning(
            "trainer.precision=bf16-mixed: this %s has no native bf16, so it is emulated (35x slower than "
            "32-true on an AVX2 CPU); trainer.precision=auto picks the fastest supported precision",
            "GPU" if device == "cuda" else "CPU",
        )
    return precision
