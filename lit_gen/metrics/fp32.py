"""Metrics in fp32 whatever the training precision: ``full_precision`` switches autocast off on every device type,
so a metric computed inside a bf16 or fp16 autocast region (a step under ``precision=bf16-mixed``, a user's own
code) gives the numbers it gives outside one."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def full_precision():
    """A context manager, or a decorator: autocast off on CPU and CUDA inside."""
    with torch.autocast("cpu", enabled=False), torch.autocast("cuda", enabled=False):
        yield
