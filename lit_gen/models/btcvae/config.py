"""Typed config of β-TCVAE (``model.name=btcvae``): the VAE's keys, with ``beta`` the weight of the total correlation."""

from __future__ import annotations

from dataclasses import dataclass

from lit_gen.bounds import bounded
from lit_gen.models.vae.config import VAEConfig


@dataclass
class BetaTCVAEConfig(VAEConfig):
    name: str = "btcvae"
    latent_dim: int = 10
    # Chen et al.'s loss: recon + alpha * MI(x; z) + beta * TC(z) + gamma * sum_d KL(q(z_d) || p(z_d)); with all
    # three 1 it is the ELBO. Their experiments keep alpha = gamma = 1 and raise beta (6 is in their dSprites range).
    alpha: float = bounded(1.0, ge=0)  # index-code mutual information
    beta: float = bounded(6.0, ge=0)  # total correlation (NOT the KL weight it is in model.name=vae)
    gamma: float = bounded(1.0, ge=0)  # dimension-wise KL
