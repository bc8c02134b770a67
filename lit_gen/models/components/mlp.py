"""MLP encoder/decoder (the IWAE reference net is 784-200-200-50, tanh) and MLP GAN nets.

The GAN nets serve the toy densities, whose samples are vectors (D,), and also
flattened images: ``out_shape``/``in_shape`` say which.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU}


def mlp(sizes: list, activation: str, final_activation: bool = False) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class GaussianMLPEncoder(nn.Module):
    """x (N, C, H, W) -> (mu, logvar), each (N, latent_dim)."""

    def __init__(self, in_shape: tuple, hidden: list, latent_dim: int, activation: str = "tanh"):
        super().__init__()
        self.body = mlp([math.prod(in_shape), *hidden], activation, final_activation=True)
        self.head = nn.Linear(hidden[-1] if hidden else math.prod(in_shape), 2 * latent_dim)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.head(self.body(x.flatten(1))).chunk(2, dim=1)
        return mu, logvar


class MLPDecoder(nn.Module):
    """z (N, latent_dim) -> per-pixel output (N, C, H, W) (logits or means)."""

    def __init__(self, latent_dim: int, hidden: list, out_shape: tuple, activation: str = "tanh"):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = mlp([latent_dim, *hidden, math.prod(out_shape)], activation)

    @property
    def output_bias(self) -> torch.Tensor:
        return self.net[-1].bias

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)


def _norm1d(kind: str, width: int) -> nn.Module:
    # instance norm has nothing to normalise over in a feature vector
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} for an MLP; choose one of batch, layer, none")


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> (N, *out_shape); ``depth`` hidden layers of ``width`` ReLUs.

    The output is linear for real-valued vectors (the toy densities reach +-4), tanh for images in [-1, 1].
    """

    def __init__(self, latent_dim: int, out_shape: tuple, width: int = 128, depth: int = 3, tanh: bool = False):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = mlp([latent_dim, *[width] * depth, math.prod(out_shape)], "relu")
        if tanh:
            self.net.append(nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)


class MLPDiscriminator(nn.Module):
    """x (N, *in_shape) -> logits (N,); ``depth`` hidden layers of ``width`` LeakyReLU(0.2), optional norm."""

    def __init__(self, in_shape: tuple, width: int = 128, depth: int = 3, norm: str = "none"):
        super().__init__()
        layers, d = [], math.prod(in_shape)
        for _ in range(depth):
            layers += [nn.Linear(d, width), _norm1d(norm, width), nn.LeakyReLU(0.2)]
            d = width
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(-1)
