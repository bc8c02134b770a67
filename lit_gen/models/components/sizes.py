"""Which image sizes the conv nets take: plain arithmetic, so a config is checked without importing torch."""

from __future__ import annotations

import math

def num_stages(image_size: int) -> int:
    """Stride-2 stages between ``image_size`` and 4x4; the size must be 4 * 2**k."""
    k = int(round(math.log2(image_size / 4))) if image_size >= 8 else 0
    if image_size < 8 or 4 * 2**k != image_size:
        raise ValueError(f"image_size {image_size} is not a power of two >= 8")
    return k

def dcgan_stages(image_size: int) -> int:
    """Stride-2 stages between 4x4 and ``image_size``, which must be 4 * 2**k with k >= 2 (16, 32, 64, 128...)."""
    k = int(round(math.log2(image_size / 4))) if image_size >= 16 else 0
    if image_size < 16 or 4 * 2**k != image_size:
        raise ValueError(f"image_size {image_size} is not a power of two >= 16")
    return k
