"""Judge networks for the attribute accuracy of conditional samples, by architecture name.

``domain`` is the domain classifier (:class:`lit_gen.metrics.feature_net.DomainNet`: 3x3 conv-BN-ReLU, max-pooled,
a coarse 4x4 layout kept). ``resnet`` is a second family that shares little with it or with the CVAE-GAN's
in-training critic (stride-2 4x4 convs, LeakyReLU, no normalisation): residual blocks with GroupNorm and a global
average pool, so it reads what is in the image and not where. A sample that only a copy of the critic accepts
shows up as a gap between the families.
"""

from __future__ import annotations

import torch
from torch import nn

from lit_gen.errors import UserError


class _Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.GroupNorm(8, c_out), nn.SiLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.GroupNorm(8, c_out))
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out
                     else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.GroupNorm(8, c_out)))
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class ResidualJudge(nn.Module):
    """A stem conv, then one stride-2 residual block per width, global average pool, linear logits."""

    def __init__(self, channels: int, image_size: int, num_classes: int, stem: int = 16, widths=(32, 64, 128)):
        super().__init__()
        blocks, c = [nn.Conv2d(channels, stem, 3, 1, 1, bias=False), nn.GroupNorm(8, stem), nn.SiLU()], stem
        for w in widths:
            blocks.append(_Residual(c, w, 2 if image_size > 4 else 1))
            image_size //= 2
            c = w
        self.body = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


# None: the domain classifier itself, as train_domain_net builds it from its config
JUDGES = {"domain": None, "resnet": ResidualJudge}


def judge_factory(arch: str):
    """``make_net`` for :func:`lit_gen.metrics.feature_training.train_domain_net`: builds a judge of architecture ``arch``."""
    if arch not in JUDGES:
        raise UserError(f"--judge-arch {arch}: unknown judge architecture; choose from {', '.join(JUDGES)}")
    cls = JUDGES[arch]
    return None if cls is None else (lambda info: cls(info.channels, info.image_size, info.num_classes))
