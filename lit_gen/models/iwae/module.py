"""The importance-weighted autoencoder (Burda, Grosse & Salakhutdinov 2016) as a LightningModule.

The VAE's nets and likelihoods, trained on the k-sample bound

    L_k(x) = E[log (1/k) sum_i w_i],   w_i = p(x, z_i) / q(z_i | x),   z_1..z_k ~ q(z|x) i.i.d.,

estimated with one draw of the k samples per item (all k decoded in one batched pass: k * N decodes per step).
L_1 is the ELBO and L_k rises with k towards log p(x).

Gradient: the paper's plain IWAE estimator, autograd through the reparameterized bound,
grad L_k = sum_i w~_i grad log w_i with w~_i = w_i / sum_j w_j the normalized weights; log q(z_i|x) is
differentiated in full (its score term included), as in the paper: not DReG, not sticking-the-landing.

Logged per item: ``loss`` = -L_k (what is minimised), ``iw_bound`` = L_k, ``k``, and the VAE's own ``recon`` (mean
over the k samples), ``kl`` (closed form) and ``elbo`` = -(recon + kl), so a dashboard compares the ELBO of an IWAE
run with a VAE run's. The test IW-NLL is the VAE's ``log_likelihood``: q is the same diagonal Gaussian.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from lit_gen.models.vae import VAE
from lit_gen.models.vae import losses


class IWAE(VAE):
    prog_bar_keys = ("loss", "iw_bound")

    def loss_terms(self, x: torch.Tensor, k: Optional[int] = None) -> dict:
        k = self.model_cfg.k if k is None else k
        mu, logvar = self.encode(x)
        log_w, log_px = self.log_weights(x, mu, logvar, k)
        bound = torch.logsumexp(log_w, dim=0) - math.log(k)  # (N,)
        recon = -log_px.mean(0)
        kl = losses.gaussian_kl(mu, logvar)
        return {"recon": recon, "kl": kl, "loss": -bound, "elbo": -(recon + kl), "iw_bound": bound,
                "k": torch.full_like(bound, float(k)).detach()}
