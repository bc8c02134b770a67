"""A latent adversary for the CVAE-GAN (the Fader-network idea, Lample et al. 2017).

Why: the encoder sees x, so z can carry an attribute that y already gives. Once the decoder reads it from z,
changing y no longer changes it, and prior samples follow y badly (scenes: box vs cylinder, docs/results.md).
A small MLP predicts every discrete attribute group from z and is trained to do so in the critic's step; in the
VAE's step the encoder is trained to make that prediction fail (its cross-entropy, negated), so the decoder has to
take those attributes from y.
"""

from __future__ import annotations

import torch
from torch import nn

from lit_gen.models.cvae_gan.critic import group_cross_entropy


class LatentAdversary(nn.Module):
    """z (N, D) and y (N, Y) -> (cross-entropy per image summed over groups, accuracy per image averaged over groups)."""

    def __init__(self, latent_dim: int, groups: dict, hidden: int = 256):
        super().__init__()
        self.groups = dict(groups)
        out = sum(hi - lo for lo, hi in self.groups.values())
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return group_cross_entropy(self.net(z), y, self.groups)
