"""Ada-GVAE (Locatello et al. 2020) as a LightningModule: the VAE trained on pairs with adaptively averaged posteriors.

A training batch (``data.factor_pairs=k``) holds pairs, items 2i and 2i+1, that differ in k factor groups and
agree on the rest; which groups is not told to the model. Each pair's posteriors are averaged on the dimensions
where they agree (:mod:`lit_gen.models.adagvae.losses`), then both items pay the VAE's loss with those posteriors:
reconstruction from a sample of the averaged posterior plus beta times its KL to the prior. Validation and test
batches are plain items: the VAE's loss. Logged: ``shared``, the averaged dimensions per pair.
"""

from __future__ import annotations

import torch

from lit_gen.models.adagvae.losses import adaptive_average
from lit_gen.models.vae import VAE
from lit_gen.models.vae import losses


class AdaGVAE(VAE):
    def pair_terms(self, x: torch.Tensor) -> dict:
        c = self.model_cfg
        mu, logvar = self.encode(x)
        (m1, v1), (m2, v2), shared = adaptive_average(mu[0::2], logvar[0::2], mu[1::2], logvar[1::2])
        # back to the batch's order: item 2i from the first of pair i, 2i+1 from the second
        mu_a = torch.stack([m1, m2], 1).reshape(mu.shape)
        logvar_a = torch.stack([v1, v2], 1).reshape(logvar.shape)
        z = self.reparameterize(mu_a, logvar_a, c.mc_samples)
        recon = self.neg_log_px(self.decode(z), x).mean(0)
        kl = losses.gaussian_kl(mu_a, logvar_a)
        return {"recon": recon, "kl": kl, "loss": recon + c.beta * kl, "elbo": -(recon + kl),
                "shared": shared.float().sum(-1).repeat_interleave(2)}

    def step_terms(self, batch: dict) -> dict:
        if self.training:
            return self.pair_terms(batch["image"])
        return self.loss_terms(batch["image"])
