"""Inverse autoregressive flow (Kingma et al. 2016) with MADE steps (Germain et al. 2015).

One IAF step maps z (..., D) with a context h (..., C) to

    [m, s] = MADE(z, h),   sigma = sigmoid(s),   z' = sigma * z + (1 - sigma) * m,

the paper's numerically stable (LSTM-like) form. Output i of the MADE sees only z_{<i} (and all of h), so dz'/dz is
lower triangular with diagonal sigma and log |det dz'/dz| = sum_i log sigma_i; a density then changes as
log q(z') = log q(z) - sum_i log sigma_i. ``IAF`` chains T steps and reverses the variable order between them.
Plain ``nn.Module``s: any leading batch or sample dims broadcast, with h broadcasting against z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# the paper starts s positive (about +1 or +2), so each step begins close to the identity
S_BIAS = 2.0


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        # derived from the sizes alone, so not stored in checkpoints
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_degrees(dim: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input/output degrees 1..D, hidden degrees cycling through 1..D-1): a fixed, deterministic MADE ordering."""
    inputs = torch.arange(1, dim + 1)
    hidden_deg = torch.arange(hidden) % max(dim - 1, 1) + 1
    return inputs, hidden_deg


class MADE(nn.Module):
    """(z (..., D), h (..., C)) -> (m, s), each (..., D); output i depends on z_{<i} and h only.

    ``depth`` masked hidden layers of ``hidden`` ELUs; h enters the first one through an unmasked linear map.
    """

    def __init__(self, dim: int, context_dim: int, hidden: int, depth: int = 2):
        super().__init__()
        if depth < 1:
            raise ValueError(f"MADE depth must be >= 1, got {depth}")
        self.dim = dim
        deg_in, deg_h = made_degrees(dim, hidden)
        # a hidden unit of degree k sees inputs 1..k; an output of degree d sees hidden units of degree < d
        hidden_mask = (deg_h[:, None] >= deg_h[None, :]).float()
        self.first = MaskedLinear(dim, hidden, (deg_h[:, None] >= deg_in[None, :]).float())
        self.context = nn.Linear(context_dim, hidden, bias=False) if context_dim > 0 else None
        self.hidden = nn.ModuleList(MaskedLinear(hidden, hidden, hidden_mask) for _ in range(depth - 1))
        out_mask = (deg_in[:, None] > deg_h[None, :]).float()
        self.out = MaskedLinear(hidden, 2 * dim, torch.cat([out_mask, out_mask]))
        with torch.no_grad():
            self.out.bias[dim:].fill_(S_BIAS)

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None):
        a = self.first(z)
        if self.context is not None:
            a = a + self.context(h)
        a = F.elu(a)
        for layer in self.hidden:
            a = F.elu(layer(a))
        m, s = self.out(a).chunk(2, dim=-1)
        return m, s


class IAFStep(nn.Module):
    """One IAF step: (z, h) -> (z', log sigma (..., D)); log |det dz'/dz| = log sigma summed over the last dim."""

    def __init__(self, dim: int, context_dim: int, hidden: int, depth: int = 2):
        super().__init__()
        self.made = MADE(dim, context_dim, hidden, depth)

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None):
        m, s = self.made(z, h)
        sigma = torch.sigmoid(s)
        return sigma * z + (1 - sigma) * m, F.logsigmoid(s)


class IAF(nn.Module):
    """T IAF steps; the odd steps see the variables in reverse order (flipped in, flipped back out), so z_T keeps
    z_0's coordinate order. (z_0, h) -> (z_T, sum over steps and dims of log sigma (...,))."""

    def __init__(self, dim: int, context_dim: int, hidden: int, steps: int, depth: int = 2):
        super().__init__()
        self.steps = nn.ModuleList(IAFStep(dim, context_dim, hidden, depth) for _ in range(steps))

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None):
        log_det = z.new_zeros(z.shape[:-1])
        for t, step in enumerate(self.steps):
            if t % 2:
                z, log_sigma = step(z.flip(-1), h)
                z, log_sigma = z.flip(-1), log_sigma.flip(-1)
            else:
                z, log_sigma = step(z, h)
            log_det = log_det + log_sigma.sum(-1)
        return z, log_det
