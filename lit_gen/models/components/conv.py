"""Convolutional encoder/decoder for square images whose size is a power of two.

Each stage halves (encoder) or doubles (decoder) the resolution with a 4x4
stride-2 convolution, down to 4x4; the widths come from config.
"""

from __future__ import annotations

import torch
from torch import nn

from lit_gen.models.components.sizes import num_stages


def stage_widths(widths: list, stages: int) -> list:
    """Use the first ``stages`` widths, repeating the last one if there are too few."""
    widths = list(widths)
    return (widths + [widths[-1]] * stages)[:stages]


def conv_down(channels: int, image_size: int, widths: list, norm: bool = False) -> tuple[nn.Sequential, int]:
    """(stride-2 4x4 convs with LeakyReLU(0.2) down to 4x4, flattened; its number of output features)."""
    layers, c = [], channels
    for w in stage_widths(widths, num_stages(image_size)):
        layers += [nn.Conv2d(c, w, 4, 2, 1)]
        if norm:
            layers += [nn.BatchNorm2d(w)]
        layers += [nn.LeakyReLU(0.2)]
        c = w
    return nn.Sequential(*layers, nn.Flatten()), c * 16


class GaussianConvEncoder(nn.Module):
    """x (N, C, S, S) -> (mu, logvar), each (N, latent_dim)."""

    def __init__(self, channels: int, image_size: int, widths: list, latent_dim: int, norm: bool = False):
        super().__init__()
        self.body, features = conv_down(channels, image_size, widths, norm)
        self.head = nn.Linear(features, 2 * latent_dim)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)
        return mu, logvar


class ConvDecoder(nn.Module):
    """z (N, latent_dim) -> (N, C, S, S) raw outputs (logits or means)."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, widths: list, norm: bool = False):
        super().__init__()
        ws = stage_widths(widths, num_stages(image_size))[::-1]
        self.start = ws[0]
        self.fc = nn.Sequential(nn.Linear(latent_dim, ws[0] * 16), nn.ReLU())
        layers = []
        for i, w in enumerate(ws):
            out = ws[i + 1] if i + 1 < len(ws) else channels
            layers.append(nn.ConvTranspose2d(w, out, 4, 2, 1))
            if i + 1 < len(ws):
                if norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)

    @property
    def output_bias(self) -> torch.Tensor:
        return self.body[-1].bias

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(z).view(-1, self.start, 4, 4))
