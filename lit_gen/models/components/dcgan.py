"""DCGAN generator and discriminator (Radford et al. 2015) for square power-of-two images.

Generator: z -> 4x4 (a 4x4 transposed conv), then one stride-2 up-stage per doubling
(32 px: 3 up-stages, 64 px: 4), BatchNorm + ReLU between, tanh output in [-1, 1].
Discriminator: one stride-2 conv per halving down to 4x4, LeakyReLU(0.2), a norm on
every layer except the first, no pooling, then a 4x4 conv to one logit per image.

Widths follow DCGAN's ngf/ndf rule: the layer next to the image has ``width``
channels and each stage further from it doubles them (64 px, width 64:
G 512-256-128-64, D 64-128-256-512). Weights ~ N(0, 0.02); norm weights ~ N(1, 0.02).

The discriminator's norm is a choice because WGAN-GP's gradient penalty is a
per-sample quantity that BatchNorm would couple across the batch: ``layer``
(GroupNorm with one group: LayerNorm over C, H, W with per-channel affine, as in
Gulrajani et al. 2017), ``instance``, ``batch`` or ``none``.
"""

from __future__ import annotations

import torch
from torch import nn

from lit_gen.models.components.sizes import dcgan_stages

NORMS = ("batch", "layer", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


@torch.no_grad()
def dcgan_init(module: nn.Module) -> None:
    """DCGAN's init: conv/linear weights ~ N(0, 0.02), norm weights ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, C, S, S) in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int = 64):
        super().__init__()
        stages = dcgan_stages(image_size)
        # widths from the 4x4 side: width * 2**(stages-1), ..., width
        ws = [width * 2 ** (stages - 1 - i) for i in range(stages)]
        self.latent_dim = latent_dim
        layers = [nn.ConvTranspose2d(latent_dim, ws[0], 4, 1, 0, bias=False), nn.BatchNorm2d(ws[0]), nn.ReLU(True)]
        for i in range(stages - 1):
            layers += [nn.ConvTranspose2d(ws[i], ws[i + 1], 4, 2, 1, bias=False), nn.BatchNorm2d(ws[i + 1]),
                       nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ws[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images (N, C, S, S) in [-1, 1] -> logits (N,)."""

    def __init__(self, channels: int, image_size: int, width: int = 64, norm: str = "batch"):
        super().__init__()
        stages = dcgan_stages(image_size)
        ws = [width * 2**i for i in range(stages)]  # from the image side
        use_bias = norm == "none"
        layers = [nn.Conv2d(channels, ws[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]  # no norm on the first layer
        for i in range(stages - 1):
            layers += [nn.Conv2d(ws[i], ws[i + 1], 4, 2, 1, bias=use_bias), _norm(norm, ws[i + 1]),
                       nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ws[-1], 1, 4, 1, 0)]  # 4x4 -> 1x1: one logit
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)
