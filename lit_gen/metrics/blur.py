"""Blurriness: the variance of the Laplacian (Tolstikhin et al., WAE, ICLR 2018).

Per image: convert to grayscale in [0, 1], convolve with the 3x3 Laplacian
``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` with valid padding (no border), take the
variance of the result (population variance, ddof = 0). The metric is the mean
over images. Sharper images have higher values; report it as a ratio to the
same statistic on real images (1.0 = as sharp as the data, below 1 = blurrier).

The states are a float64 sum and an integer count, both reduced by ``sum``, so
DDP gives exactly the single-process result.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchmetrics import Metric

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as the data sources use for RGB -> grey


def gaussian_blur(x: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """(N, C, H, W) blurred by a Gaussian of std ``sigma`` pixels (kernel radius 3 sigma, replicate padding).

    The controlled blur the sanity checks and the Attribute2Image judge check compare against.
    """
    r = int(math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    k = (g[:, None] * g[None, :]).view(1, 1, 2 * r + 1, 2 * r + 1).repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), k.to(x), groups=x.shape[1])


def to_grayscale(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] (or uint8) -> (N, 1, H, W) in [0, 1], keeping a floating dtype."""
    if images.dtype == torch.uint8:
        x = images.float() / 255.0
    else:
        x = images if images.is_floating_point() else images.float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    c = x.shape[1]
    if c == 1:
        return x
    if c == 3:
        w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Per-image variance of the Laplacian, (N,) float64. Images must be at least 3x3."""
    x = images.double() / 255.0 if images.dtype == torch.uint8 else images.double()
    g = to_grayscale(x)  # float64 throughout, so sums over many images stay exact to ~1e-15
    k = LAPLACIAN.to(device=g.device, dtype=g.dtype).view(1, 1, 3, 3)
    lap = F.conv2d(g, k)  # valid padding: (N, 1, H-2, W-2)
    return lap.flatten(1).var(dim=1, unbiased=False)


class Blurriness(Metric):
    """Mean variance of the Laplacian over all images seen (higher = sharper)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, images: torch.Tensor) -> None:
        v = laplacian_variance(images)
        self.total += v.sum()
        self.count += v.numel()

    def compute(self) -> torch.Tensor:
        if self.count == 0:
            return torch.tensor(float("nan"), dtype=torch.float64)
        return self.total / self.count
