"""GAN losses as small pure functions on discriminator logits (mimicry style).

Each takes the discriminator's raw outputs ``d_real``/``d_fake`` (N,) and returns
a scalar to minimize. With D(x) = sigmoid(logit), the log terms are written with
softplus for numerical stability:

    -log D(x)       = softplus(-logit)
    -log(1 - D(x))  = softplus(logit)

``LOSSES`` maps ``model.loss`` to the (discriminator, generator) pair; the f-GAN losses
(``fgan_<divergence>``, :mod:`lit_gen.models.gan.fdivergences`) are built by ``loss_pair``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from lit_gen.models.gan import fdivergences


# --- the original GAN (Goodfellow et al. 2014) --------------------------------------
def gan_loss_dis(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """J_D = E_x[-log D(x)] + E_z[-log(1 - D(G(z)))]; shared by minimax and non-saturating."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def minimax_loss_gen(d_fake: torch.Tensor) -> torch.Tensor:
    """The saturating generator loss E_z[log(1 - D(G(z)))] = E[-softplus(logit)]."""
    return -F.softplus(d_fake).mean()


def ns_loss_gen(d_fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss E_z[-log D(G(z))] = E[softplus(-logit)]."""
    return F.softplus(-d_fake).mean()


# --- hinge (Lim & Ye 2017; Miyato et al. 2018) ---------------------------------------
def hinge_loss_dis(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """E_x[max(0, 1 - D(x))] + E_z[max(0, 1 + D(G(z)))]."""
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def hinge_loss_gen(d_fake: torch.Tensor) -> torch.Tensor:
    """-E_z[D(G(z))]."""
    return -d_fake.mean()


# --- Wasserstein with gradient penalty (Gulrajani et al. 2017) -----------------------
def wasserstein_loss_dis(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """E_z[D(G(z))] - E_x[D(x)]: the critic's estimate of -W(p_data, p_G). Add the gradient penalty."""
    return d_fake.mean() - d_real.mean()


def wasserstein_loss_gen(d_fake: torch.Tensor) -> torch.Tensor:
    """-E_z[D(G(z))]."""
    return -d_fake.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps * real + (1 - eps) * fake, eps ~ U(0, 1) per sample.

    Differentiable (``create_graph``), so the penalty trains the critic. ``eps`` (N,) may be
    given for tests.
    """
    n = real.shape[0]
    if eps is None:
        eps = torch.rand(n, device=real.device, dtype=real.dtype)
    eps = eps.view(n, *([1] * (real.dim() - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """E_real[||grad_x D(x)||^2] (Mescheder et al. 2018): flattens D around the data, which makes the
    non-saturating GAN converge where it otherwise cycles or collapses (their Dirac-GAN analysis)."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


LOSSES: dict[str, tuple[Callable, Callable]] = {
    "minimax": (gan_loss_dis, minimax_loss_gen),
    "nonsaturating": (gan_loss_dis, ns_loss_gen),
    "hinge": (hinge_loss_dis, hinge_loss_gen),
    "wgan-gp": (wasserstein_loss_dis, wasserstein_loss_gen),
}


def loss_pair(loss: str, fgan_generator: str = "alternative") -> tuple[Callable, Callable]:
    """The (discriminator, generator) losses of ``model.loss`` (and, for f-GAN, ``model.fgan_generator``)."""
    if loss in LOSSES:
        return LOSSES[loss]
    return fdivergences.fgan_losses(loss, fgan_generator)
