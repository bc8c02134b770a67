"""Networks of Attribute2Image (Yan et al. 2016), scaled to small images.

Encoder: conv stack -> h_x (``feat_dim``), attribute branch y -> Linear -> ReLU (h_y);
mu = Linear([h_x; h_y]); log sigma^2 = Linear(h_x) with zero-initialised weights.
Decoder: y -> Linear(2*zdim) -> ReLU, [z; y'] -> (optional hidden layers) -> FC -> (w, 4, 4), upsampling
stages (nearest upsample x2 + conv 3x3 + BN + ReLU; the paper uses conv 5x5) and one 3x3 conv head per output.
"""

from __future__ import annotations

import torch
from torch import nn

from lit_gen.models.components.conv import stage_widths
from lit_gen.models.components.sizes import num_stages


class CondEncoder(nn.Module):
    """(x (N, C, S, S), y (N, Y)) -> (mu, logvar), each (N, latent_dim)."""

    def __init__(self, channels: int, image_size: int, widths: list, cond_dim: int, latent_dim: int,
                 feat_dim: int = 256, y_hidden: int = 64):
        super().__init__()
        ws = stage_widths(widths, num_stages(image_size))
        layers, c = [], channels
        for w in ws:
            layers += [nn.Conv2d(c, w, 4, 2, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2)]
            c = w
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 16, feat_dim), nn.ReLU())
        self.y_branch = nn.Sequential(nn.Linear(cond_dim, y_hidden), nn.ReLU()) if cond_dim else None
        self.mu = nn.Linear(feat_dim + (y_hidden if cond_dim else 0), latent_dim)
        self.logvar = nn.Linear(feat_dim, latent_dim)  # from h_x alone, starting at zero
        nn.init.zeros_(self.logvar.weight)
        nn.init.zeros_(self.logvar.bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        hx = self.body(x)
        h = torch.cat([hx, self.y_branch(y)], 1) if self.y_branch is not None else hx
        return self.mu(h), self.logvar(hx)


class CondDecoder(nn.Module):
    """(z (N, D), y (N, Y) or None) -> tuple of raw maps (N, c_k, S, S), one per head in ``heads``."""

    def __init__(self, latent_dim: int, cond_dim: int, channels: int, image_size: int, widths: list, heads: tuple,
                 hidden: tuple = ()):
        super().__init__()
        ws = stage_widths(widths, num_stages(image_size))[::-1]
        self.start = ws[0]
        self.y_branch = nn.Sequential(nn.Linear(cond_dim, 2 * latent_dim), nn.ReLU()) if cond_dim else None
        in_dim = latent_dim + (2 * latent_dim if cond_dim else 0)
        mlp = []  # optional hidden layers on [z; y'] before the FC (``hidden``; the paper has none)
        for h in hidden:
            mlp += [nn.Linear(in_dim, h), nn.ReLU()]
            in_dim = h
        self.fc = nn.Sequential(*mlp, nn.Linear(in_dim, ws[0] * 16), nn.ReLU())
        layers = []
        for i, w in enumerate(ws):
            out = ws[i + 1] if i + 1 < len(ws) else max(ws[-1] // 2, 16)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Conv2d(out, c, 3, padding=1) for c in heads)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> tuple:
        yy = self.y_branch(y) if self.y_branch is not None else None
        h = torch.cat([z, yy], 1) if yy is not None else z
        h = self.body(self.fc(h).view(-1, self.start, 4, 4))
        return tuple(head(h) for head in self.heads)
