"""The hardware's fast paths, chosen before Lightning starts: ``trainer.precision: auto`` and
``run.channels_last``. What each is worth, measured, is in docs/performance.md (``benchmarks/bench_precision.py``).

- ``precision: auto`` is ``bf16-mixed`` for models with 2-D convolutions where the device computes bfloat16
  natively (a CUDA GPU with bf16, a CPU with AVX512-BF16 or AMX-BF16), and ``32-true`` elsewhere: the MLP nets'
  small matmuls measured slower under autocast. Any other ``trainer.precision`` is passed as given.
- ``run.channels_last`` (default: on for models with 2-D convolutions) keeps the module's weights in
  ``torch.channels_last``, the layout oneDNN's and cuDNN's convolution kernels run fastest on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import lightning as L
import torch

AUTO = "auto"
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The CPU's feature flags (Linux: /proc/cpuinfo; elsewhere none are known)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def uses_gpu(accelerator) -> bool:
    kind = str(accelerator).lower()
    return kind in ("gpu", "cuda") or (kind == "auto" and torch.cuda.is_available())


def native_bf16(accelerator) -> tuple[bool, str]:
    """(does the device the run trains on compute bfloat16 natively, why)."""
    if uses_gpu(accelerator):
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ok, f"CUDA device {'with' if ok else 'without'} bf16"
    have = [f for f in CPU_BF16_FLAGS if f in cpu_flags()]
    return bool(have), f"the CPU has {' and '.join(have)}" if have else "the CPU has neither AVX512-BF16 nor AMX-BF16"


def resolve_precision(tcfg, conv: bool) -> str:
    """``trainer.precision`` with ``auto`` decided for a model with (``conv``) or without 2-D convolutions, and
    written back, so the run's config stores the choice; the one-line reason for ``auto``, or '' when the user
    chose."""
    if str(tcfg.precision) != AUTO:
        return ""
    ok, why = native_bf16(tcfg.accelerator)
    if ok and not conv:
        ok, why = False, "no convolutions in the model: its small matmuls run slower under bf16 autocast"
    tcfg.precision = "bf16-mixed" if ok else "32-true"
    return f"precision {tcfg.precision} (trainer.precision=auto: {why})"


def has_conv2d(module: torch.nn.Module) -> bool:
    return any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in module.modules())


class ChannelsLast(L.Callback):
    """The module's weights in ``torch.channels_last``; a convolution with such weights takes a contiguous batch
    into that layout itself, and its outputs keep it."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        pl_module.to(memory_format=torch.channels_last)
