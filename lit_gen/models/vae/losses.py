"""VAE loss terms as pure functions. Each returns one value per data point, in nats,
summed over pixels or latent dimensions (never averaged over pixels: that would
silently reweight the KL term)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, samples: int) -> torch.Tensor:
    """``samples`` draws z = mu + sigma * eps of q(z|x), stacked in front: (L, N, D)."""
    eps = torch.randn(samples, *mu.shape, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def iw_estimate(log_weights, k: int, chunk: int) -> torch.Tensor:
    """log (1/k) sum_i w_i per item from ``log_weights(m)`` -> (m, N) log weights of m fresh samples, drawn ``chunk``
    at a time so memory stays bounded for k = 5000 (Burda et al.'s importance-weighted estimate of log p(x))."""
    parts = [torch.logsumexp(log_weights(min(chunk, k - start)), dim=0) for start in range(0, k, chunk)]
    return torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), closed form, summed over the last dim."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)), summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def log_std_normal(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor, event_dims: int = 3) -> torch.Tensor:
    """-log Bernoulli(x; sigmoid(logits)), summed over the trailing ``event_dims`` dims ((C, H, W) for images).

    ``logits`` may carry extra leading sample dims (L, N, ...) that broadcast over x (N, ...).
    """
    # -log Bernoulli(x; sigmoid(l)) = softplus(l) - x * l, for any x in [0, 1]: no expanded copy of x per sample,
    # faster than binary_cross_entropy_with_logits on the IW-NLL's (k, N, 784) logits (benchmarks/bench_iwnll.py);
    # equal to float32 rounding (tests/test_vae.py)
    flat, xf = logits.flatten(start_dim=-event_dims), x.flatten(start_dim=-event_dims)
    return _sum_softplus(flat) - _sum_product(flat, xf)


def _sum_softplus(flat: torch.Tensor) -> torch.Tensor:
    # Without autograd (the IW-NLL), log(1 + e^l) in place: faster than softplus's log1p on CPU, and the same
    # to float32 rounding unless e^l overflows (l > 88), which shows as inf in the sum and falls back to softplus;
    # autograd needs softplus's own backward.
    if not flat.requires_grad:
        out = torch.exp(flat).add_(1.0).log_().sum(-1)
        if not torch.isposinf(out).any() or torch.isposinf(flat).any():
            return out
    return F.softplus(flat).sum(-1)


def _sum_product(flat: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
    # Many samples (S, N, D) of a few images (N, D), as in the IW-NLL's passes: one strided matrix-vector product
    # per image, no (S, N, D) temporary (benchmarks/bench_iwnll.py); otherwise the temporary costs less than N products
    if flat.dim() == 3 and xf.dim() == 2 and flat.shape[1:] == xf.shape and flat.shape[1] <= 16:
        return torch.stack([flat[:, n] @ xf[n] for n in range(flat.shape[1])], dim=1)
    return (flat * xf).sum(-1)


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, log_sigma: torch.Tensor, event_dims: int = 3) -> torch.Tensor:
    """-log N(x; mean, sigma^2), summed over the trailing ``event_dims`` dims ((C, H, W) for images, 1 for vectors)."""
    x = x.expand_as(mean)
    nll = 0.5 * LOG_2PI + log_sigma + 0.5 * ((x - mean) / log_sigma.exp()).pow(2)
    return nll.flatten(start_dim=-event_dims).sum(-1)


def laplace_nll(loc: torch.Tensor, x: torch.Tensor, log_scale: torch.Tensor, event_dims: int = 3) -> torch.Tensor:
    """-log Laplace(x; loc, b = exp(log_scale)), summed over the trailing ``event_dims`` dims.

    Its optimal loc is the conditional median, not the mean: where an edge may sit in one of two places the
    median picks one, which is why an L1 / Laplace decoder blurs less than a Gaussian one.
    """
    x = x.expand_as(loc)
    nll = math.log(2.0) + log_scale + (x - loc).abs() / log_scale.exp()
    return nll.flatten(start_dim=-event_dims).sum(-1)
