"""Ada-GVAE's adaptive averaging of a pair's posteriors (Locatello et al. 2020, section 4).

For a pair (x1, x2) that shares an unknown subset of its factors, the latents whose posteriors agree are taken
to be the shared ones: per dimension delta_d = KL(q(z_d|x1) || q(z_d|x2)); the threshold is the midpoint
tau = (max_d delta_d + min_d delta_d) / 2; dimensions with delta_d < tau get, in both posteriors, the average of
the two (GVAE: mean of the means and of the variances). The others stay each item's own.
"""

from __future__ import annotations

import torch


def pair_kl(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mu1, exp(logvar1)) || N(mu2, exp(logvar2))) per dimension (no sum)."""
    return 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2).pow(2)) / logvar2.exp() - 1.0)


def shared_dims(delta: torch.Tensor) -> torch.Tensor:
    """Bool mask of the dimensions below the midpoint of each row's smallest and largest ``delta``."""
    tau = 0.5 * (delta.max(-1, keepdim=True).values + delta.min(-1, keepdim=True).values)
    return delta < tau


def adaptive_average(mu1, logvar1, mu2, logvar2) -> tuple:
    """((mu1', logvar1'), (mu2', logvar2'), shared mask): the pair's posteriors with the shared dims averaged."""
    shared = shared_dims(pair_kl(mu1, logvar1, mu2, logvar2))
    mu = 0.5 * (mu1 + mu2)
    logvar = torch.log(0.5 * (logvar1.exp() + logvar2.exp()))
    return ((torch.where(shared, mu, mu1), torch.where(shared, logvar, logvar1)),
            (torch.where(shared, mu, mu2), torch.where(shared, logvar, logvar2)), shared)
