"""Image grids as PNG files, without torchvision."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lit_gen.storage import atomic_path


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (H', W', 3) uint8 array, ``nrow`` images per row."""
    x = images.detach().float().cpu().clamp(0, 1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    n, c, h, w = x.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = x[i]
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def save_png(array: np.ndarray, path: Path, scale: int = 1) -> Path:
    path = Path(path)
    img = Image.fromarray(array)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    with atomic_path(path, keep_suffix=True) as tmp:
        img.save(tmp)
    return path
