"""β-TCVAE's decomposition of the KL term (Chen et al. 2018, eq. 2), estimated on a minibatch.

E_x KL(q(z|x) || p(z)) = MI(x; z) + TC(z) + sum_d KL(q(z_d) || p(z_d)), where q(z) is the aggregate posterior.
q(z) and its marginals are estimated with the paper's minibatch-weighted sampling (MWS): for a sample z_i of item
i in a batch of M drawn from N training items,

    log q(z_i)        ~ logsumexp_j log q(z_i | x_j)        - log(N M)
    log prod_d q(z_id) ~ sum_d [logsumexp_j log q(z_id | x_j) - log(N M)]

The three terms, per item, then telescope to log q(z_i|x_i) - log p(z_i).
"""

from __future__ import annotations

import math

import torch

from lit_gen.models.vae.losses import LOG_2PI, log_normal, log_std_normal


def pairwise_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z_i,d; mu_j,d, exp(logvar_j,d)) for every pair: z (..., M, D), mu and logvar (M, D) -> (..., M, M, D)."""
    zi = z.unsqueeze(-2)
    return -0.5 * (LOG_2PI + logvar + (zi - mu).pow(2) / logvar.exp())


def tc_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int) -> dict:
    """Per-item MWS estimates ``mi``, ``tc`` and ``dwkl`` (nats), each of shape z.shape[:-1].

    ``z``: (..., M, D) samples of q(z|x) for the M items whose posteriors are ``mu``, ``logvar`` (M, D);
    ``dataset_size``: N, the items the batch was drawn from.
    """
    m = mu.shape[0]
    log_nm = math.log(dataset_size * m)
    pair = pairwise_log_density(z, mu, logvar)  # (..., M, M, D)
    log_qz = torch.logsumexp(pair.sum(-1), dim=-1) - log_nm
    log_prod = (torch.logsumexp(pair, dim=-2) - log_nm).sum(-1)
    log_qzx = log_normal(z, mu, logvar)
    return {"mi": log_qzx - log_qz, "tc": log_qz - log_prod, "dwkl": log_prod - log_std_normal(z)}
