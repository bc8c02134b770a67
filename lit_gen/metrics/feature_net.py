"""The domain feature network for FID / IS / KID: a small CNN classifier on the data set's own labels.

Its penultimate layer (``feat_dim`` ReLU units) gives the FID/KID features; its logits give IS. How it is trained
is :mod:`lit_gen.metrics.feature_training`, where it is kept :mod:`lit_gen.metrics.feature_cache`, how torchmetrics
calls it :mod:`lit_gen.metrics.feature_extractor`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

HASH_CHARS = 12  # the short weights hash every result records (``domain:3fa2b1c09d8e``)


@dataclass(frozen=True)
class DomainNetConfig:
    """Architecture and training of the domain classifier; part of the cache key."""

    widths: tuple = (16, 32, 64)
    feat_dim: int = 128
    epochs: int = 2
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_train: Optional[int] = None  # train on a fixed random subset of this many images (None: all)
    min_steps: int = 150  # small data sets get more epochs, so the net is never left barely trained
    seed: int = 0


class DomainNet(nn.Module):
    """conv-BN-ReLU blocks (max-pooled down to about 8x8), average-pooled to 4x4, ``feat_dim`` ReLU features, logits."""

    def __init__(self, channels: int, image_size: int, num_classes: int, widths=(16, 32, 64), feat_dim: int = 128):
        super().__init__()
        layers, c, size = [], channels, image_size
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < len(widths) - 1 and size > 8:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c = w
        pooled = min(4, size)  # keep a coarse layout: where strokes are matters, not only which
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(pooled), nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(c * pooled * pooled, feat_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(feat_dim, num_classes)
        self.channels, self.image_size, self.num_classes, self.feat_dim = channels, image_size, num_classes, feat_dim

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.fc(self.body(x))
        return f, self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_both(x)[1]


def weights_sha256(net: nn.Module) -> str:
    """SHA-256 of a net's weights and buffers (names, shapes, dtypes and bytes, in state_dict order)."""
    h = hashlib.sha256()
    for key, value in net.state_dict().items():
        t = value.detach().cpu().contiguous()
        h.update(f"{key}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()
