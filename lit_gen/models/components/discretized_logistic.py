"""The discretised logistic (mixture) likelihood of PixelCNN++ (Salimans, Karpathy, Chen, Kingma 2017, eq. 2).

A pixel takes one of ``bins`` levels (256 for 8-bit images). Data in [0, 1] are mapped to the bin index
b = round(x * (bins - 1)) and to its centre c = 2 b / (bins - 1) - 1 in [-1, 1]; a bin is [c - h, c + h] with
h = 1 / (bins - 1). One logistic component with location mu and scale s puts on bin b the mass

    P(b) = sigmoid((c + h - mu) / s) - sigmoid((c - h - mu) / s)          for 0 < b < bins - 1,
    P(0) = sigmoid((c + h - mu) / s)                  (c - h replaced by -inf: the whole left tail),
    P(bins - 1) = 1 - sigmoid((c - h - mu) / s)       (c + h replaced by +inf: the whole right tail),

so the ``bins`` probabilities sum to 1 exactly; a mixture weights its components' P(b) by softmax(logits).
Locations and log scales are in the [-1, 1] units of c.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

#: PixelCNN++'s floor on the log scale: below it a bin's mass is all or nothing and its gradient vanishes
MIN_LOG_SCALE = -7.0


def to_bins(x: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Data in [0, 1] -> bin indices 0 .. bins - 1 (long)."""
    return torch.round(x.clamp(0, 1) * (bins - 1)).long()


def bin_centres(b: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Bin indices -> their centres in [-1, 1]."""
    return b.float() * (2.0 / (bins - 1)) - 1.0


def logistic_bin_log_prob(b: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """log P(b) of one logistic component (broadcast elementwise), the edge bins taking the tails."""
    log_scale = log_scale.clamp(min=MIN_LOG_SCALE)
    inv_s = torch.exp(-log_scale)
    half = 1.0 / (bins - 1)
    centred = bin_centres(b, bins) - loc
    upper = (centred + half) * inv_s  # standardised right edge of the bin
    lower = (centred - half) * inv_s
    # sigmoid(u) - sigmoid(l) = sigmoid(u) sigmoid(-l) (1 - e^{-(u - l)}): no cancellation in either tail
    inner = F.logsigmoid(upper) + F.logsigmoid(-lower) + torch.log(-torch.expm1(-2.0 * half * inv_s))
    first = F.logsigmoid(upper)  # log sigmoid(u): everything below the upper edge
    last = F.logsigmoid(-lower)  # log (1 - sigmoid(l)): everything above the lower edge
    return torch.where(b <= 0, first, torch.where(b >= bins - 1, last, inner))


def mixture_log_prob(x: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor, logits: Optional[torch.Tensor],
                     dim: int, bins: int = 256) -> torch.Tensor:
    """log P(x) elementwise for data ``x`` in [0, 1] under the mixture whose components lie along ``dim`` of
    ``loc``, ``log_scale`` and ``logits`` (x has no such dim; ``logits`` None: one component)."""
    b = to_bins(x, bins).unsqueeze(dim)
    comp = logistic_bin_log_prob(b, loc, log_scale, bins)
    if logits is None:
        return comp.squeeze(dim)
    return torch.logsumexp(comp + torch.log_softmax(logits, dim=dim), dim=dim)


def all_bin_log_probs(loc: torch.Tensor, log_scale: torch.Tensor, logits: Optional[torch.Tensor], dim: int,
                      bins: int = 256) -> torch.Tensor:
    """log P(b) for every bin b: parameters (..., K at ``dim``, ...) -> (bins, ...) without the mixture dim."""
    b = torch.arange(bins, device=loc.device).view(bins, *[1] * loc.dim())
    comp = logistic_bin_log_prob(b, loc.unsqueeze(0), log_scale.unsqueeze(0), bins)
    d = dim % loc.dim() + 1
    if logits is None:
        return comp.squeeze(d)
    return torch.logsumexp(comp + torch.log_softmax(logits, dim=dim).unsqueeze(0), dim=d)


def mixture_mean(loc: torch.Tensor, log_scale: torch.Tensor, logits: Optional[torch.Tensor], dim: int,
                 bins: int = 256) -> torch.Tensor:
    """The exact mean in [0, 1] of the discretised mixture (sum over the bins of P(b) b / (bins - 1))."""
    p = all_bin_log_probs(loc, log_scale, logits, dim, bins).exp()
    levels = torch.arange(bins, device=loc.device, dtype=p.dtype).view(bins, *[1] * (p.dim() - 1)) / (bins - 1)
    return (p * levels).sum(0)


def mixture_sample(loc: torch.Tensor, log_scale: torch.Tensor, logits: Optional[torch.Tensor], dim: int,
                   u_component: torch.Tensor, u_value: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """A draw in [0, 1] (one of the ``bins`` levels) from uniforms ``u_component``, ``u_value`` shaped like the
    result: a component by inverse CDF of the mixture weights, then a logistic draw by inverse CDF, rounded to
    its bin (the tails go to the edge bins, so the draw follows the discretised P(b) exactly)."""
    if logits is None:
        mu, ls = loc.squeeze(dim), log_scale.squeeze(dim)
    else:
        cdf = torch.softmax(logits, dim=dim).cumsum(dim)
        k = (cdf < u_component.unsqueeze(dim)).sum(dim, keepdim=True).clamp(max=loc.shape[dim] - 1)
        mu, ls = loc.gather(dim, k).squeeze(dim), log_scale.gather(dim, k).squeeze(dim)
    u = u_value.clamp(1e-6, 1 - 1e-6)
    y = mu + ls.clamp(min=MIN_LOG_SCALE).exp() * (torch.log(u) - torch.log1p(-u))
    b = torch.round((y + 1.0) * (bins - 1) / 2.0).clamp(0, bins - 1)
    return b / (bins - 1)
