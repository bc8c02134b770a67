"""Mode coverage and sample quality on Gaussian mixtures (the VEEGAN / Unrolled-GAN protocol).

A sample is *high quality* when it lies within ``k`` (3) standard deviations of
some mode's mean (Euclidean distance, isotropic modes); it is then registered to
the nearest such mode, measured in that mode's stds. A mode is *covered* when
at least ``min_count`` samples are registered to it (VEEGAN counts a mode with
one sample; PacGAN asks for 20 of 2500). Both are scored on 2500 samples by default.

The states are integer counts reduced by ``sum``, so DDP (each rank scoring
its own samples) gives the single-process result.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


def assign_modes(x: torch.Tensor, means: torch.Tensor, stds: torch.Tensor, k: float = 3.0) -> torch.Tensor:
    """(N,) index of the mode within ``k`` stds of each sample of ``x`` (N, D) (nearest in stds), or -1."""
    x = x.reshape(len(x), -1).to(means)
    dist = torch.cdist(x, means) / stds[None, :]  # (N, K), in each mode's stds
    best, idx = dist.min(dim=1)
    return torch.where(best <= k, idx, torch.full_like(idx, -1))


class _ModeCounts(Metric):
    is_differentiable = False
    full_state_update = False

    def __init__(self, means: torch.Tensor, stds, k: float = 3.0, **kwargs) -> None:
        super().__init__(**kwargs)
        means = torch.as_tensor(means, dtype=torch.float32)
        self.means = means.reshape(len(means), -1)
        self.stds = torch.as_tensor(stds, dtype=torch.float32).expand(len(means)).clone()
        self.k = float(k)
        self.add_state("counts", torch.zeros(len(means), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, samples: torch.Tensor) -> None:
        idx = assign_modes(samples.detach().float().cpu(), self.means, self.stds, self.k)
        hit = idx[idx >= 0]
        self.counts += torch.bincount(hit, minlength=len(self.means)).to(self.counts.device)
        self.total += len(samples)


class ModesCovered(_ModeCounts):
    """Number of modes with at least ``min_count`` high-quality samples registered to them."""

    higher_is_better = True

    def __init__(self, means, stds, min_count: int = 1, k: float = 3.0, **kwargs) -> None:
        super().__init__(means, stds, k, **kwargs)
        self.min_count = int(min_count)

    def compute(self) -> torch.Tensor:
        return (self.counts >= self.min_count).sum()


class HighQualityFraction(_ModeCounts):
    """Share of samples within ``k`` stds of some mode."""

    higher_is_better = True

    def compute(self) -> torch.Tensor:
        if self.total == 0:
            return torch.tensor(float("nan"))
        return self.counts.sum().double() / self.total
