"""The CVAE-GAN's critic (Bao et al. 2017): one network that reads every discrete attribute group of an image and,
with a second head, tells real images from generated ones (the classifier and discriminator of CVAE-GAN, here
one body with two heads).

Why: a VAE's samples are blurred, and for the scenes the blur erases exactly what tells a box from a cylinder
(corners), so a prior sample drawn with y = box is judged a cylinder (docs/results.md). The critic learns from REAL
images (attributes) and from real against generated ones (the GAN head); the decoder is trained, in its own step,
so that the critic reads y back from its prior samples and takes them for real. The two train in turn on the GAN's
path (:class:`lit_gen.models.gan.alternating.AlternatingSteps`).

With ``shift`` every image the critic sees, real or generated, is first moved by a random whole number of pixels
(up to ``shift`` each way, edges repeated; differentiable, so the decoder's terms go through it). Why: a pattern
that convinces this one classifier at one position rarely survives being moved, while a box's corners do; the same
augmentation on real and generated images keeps the discriminator from telling them apart by it.

The evaluation judges (:mod:`lit_gen.models.cvae.evaluation`) are separate networks trained after the fact, so
the model is not graded by the network it was trained against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lit_gen.models.components.conv import conv_down


def random_shift(x: torch.Tensor, max_px: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image moved by its own random (dy, dx) in [-max_px, max_px], edge pixels repeated into the gap."""
    if max_px <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_px,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * max_px + 1, (2, n, 1), generator=generator).to(x.device)
    rows = (torch.arange(h, device=x.device) + dy)[:, :, None]  # (N, H, 1)
    cols = (torch.arange(w, device=x.device) + dx)[:, None, :]  # (N, 1, W)
    return padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


def group_cross_entropy(logits: torch.Tensor, y: torch.Tensor, groups: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy per item summed over groups, accuracy per item averaged over groups).

    ``logits`` holds the groups' blocks one after another, in ``groups`` order; y's one-hot blocks sit at
    ``groups[g] = (lo, hi)``.
    """
    ce = torch.zeros(len(y), device=logits.device)
    acc = torch.zeros(len(y), device=logits.device)
    start = 0
    for lo, hi in groups.values():
        target = y[:, lo:hi].argmax(1)
        part = logits[:, start : start + hi - lo]
        ce = ce + F.cross_entropy(part, target, reduction="none")
        acc = acc + (part.argmax(1) == target).float()
        start += hi - lo
    return ce, acc / max(len(groups), 1)


class AttributeCritic(nn.Module):
    """Images (N, C, S, S) in [-1, 1] -> logits of every discrete attribute group (N, sum of group sizes), then
    one real-versus-generated logit.

    Stride-2 4x4 convs with LeakyReLU and no normalisation (real and generated batches go through it separately,
    and BatchNorm would give them different statistics), then a linear head.
    """

    def __init__(self, channels: int, image_size: int, widths: list, groups: dict, shift: int = 0):
        super().__init__()
        self.shift = shift
        self.groups = dict(groups)
        self.k = sum(hi - lo for lo, hi in groups.values())
        body, features = conv_down(channels, image_size, widths)
        self.net = nn.Sequential(*body, nn.Linear(features, self.k + 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(attribute logits (N, k), real-versus-generated logit (N,)); shifted at random in training mode."""
        if self.shift and self.training:
            x = random_shift(x, self.shift)
        out = self.net(x)
        return out[:, : self.k], out[:, self.k]
