"""The VAE with an inverse-autoregressive-flow posterior (Kingma et al. 2016, Algorithm 1) as a LightningModule.

The encoder outputs (mu, log sigma^2, h); then

    z_0 = mu + sigma * eps,   log q(z_0|x) = -sum_i (eps_i^2 / 2 + log(2 pi) / 2 + log sigma_i),
    T IAF steps (lit_gen.models.components.iaf): [m, s] = MADE_t(z, h), sigma_t = sigmoid(s),
    z <- sigma_t * z + (1 - sigma_t) * m,   log q <- log q - sum_i log sigma_t,i,

with the variable order reversed between steps. The decoder and prior see z_T. The KL has no closed form any more,
so the ELBO is estimated from the sample itself: log p(x|z_T) + log p(z_T) - log q(z_T|x) (averaged over
``mc_samples`` draws; ``beta`` weighs the sampled KL as it weighs the VAE's). Logged: ``recon``, ``kl`` (the sampled
log q - log p), ``loss``, ``elbo``, as the VAE's. The test IW-NLL importance-samples with this flow posterior.

``encode`` and ``reconstruct`` use the flow of the posterior's base mean (eps = 0), the code in the decoder's latent
space, so latent traversals and disentanglement re-renders decode what the decoder was trained on.
"""

from __future__ import annotations


import torch
from torch import nn

from lit_gen.models.components.iaf import IAF
from lit_gen.models.optim import OptimConfig
from lit_gen.models.vae import VAE
from lit_gen.models.vae import losses
from lit_gen.models.vae_iaf.config import VAEIAFConfig
from lit_gen.spec import DataSpec


class ContextEncoder(nn.Module):
    """The VAE encoder's body with one head for (mu, logvar, h): x -> three tensors (N, D), (N, D), (N, C)."""

    def __init__(self, body: nn.Module, features: int, latent_dim: int, context_dim: int, flat: bool):
        super().__init__()
        self.body, self.sizes, self.flat = body, [latent_dim, latent_dim, context_dim], flat
        self.head = nn.Linear(features, sum(self.sizes))

    def forward(self, x: torch.Tensor):
        return self.head(self.body(x.flatten(1) if self.flat else x)).split(self.sizes, dim=-1)


class VAEIAF(VAE):
    def __init__(self, model_cfg: VAEIAFConfig, optim_cfg: OptimConfig, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        c = self.model_cfg
        # the MLP body takes flattened images, as GaussianMLPEncoder gives them
        self.encoder = ContextEncoder(self.encoder.body, self.encoder.head.in_features, c.latent_dim, c.iaf_context,
                                      flat=c.net == "mlp")
        self.flow = IAF(c.latent_dim, c.iaf_context, c.iaf_hidden, c.iaf_steps, c.iaf_depth)

    def posterior(self, x: torch.Tensor):
        """The base Gaussian's (mu, logvar) and the context h."""
        return self.encoder(x)

    def sample_posterior(self, mu, logvar, h, samples: int, eps=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_T (samples, N, D), log q(z_T|x) (samples, N)); ``eps`` (samples, N, D) fixes the base noise."""
        if eps is None:
            eps = torch.randn(samples, *mu.shape, device=mu.device, dtype=mu.dtype)
        z0 = mu + (0.5 * logvar).exp() * eps
        log_q0 = -0.5 * (losses.LOG_2PI + logvar + eps.pow(2)).sum(-1)
        z, log_det = self.flow(z0, h)
        return z, log_q0 - log_det

    def encode(self, x: torch.Tensor):
        """(the posterior's code: z_T at eps = 0 (N, D), the base Gaussian's logvar (N, D))."""
        mu, logvar, h = self.posterior(x)
        z, _ = self.flow(mu, h)
        return z, logvar

    def loss_terms(self, x: torch.Tensor) -> dict:
        mu, logvar, h = self.posterior(x)
        z, log_q = self.sample_posterior(mu, logvar, h, self.model_cfg.mc_samples)  # (L, N, D), (L, N)
        recon = self.neg_log_px(self.decode(z), x).mean(0)
        kl = (log_q - losses.log_std_normal(z)).mean(0)
        return {"recon": recon, "kl": kl, "loss": recon + self.model_cfg.beta * kl, "elbo": -(recon + kl)}

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int = 5000, chunk: int = 500) -> torch.Tensor:
        """Importance-weighted log p(x) per image (nats) with the flow posterior as the proposal:
        logmeanexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)], ``chunk`` samples at a time."""
        mu, logvar, h = self.posterior(x)

        def log_weights(m: int) -> torch.Tensor:
            z, log_q = self.sample_posterior(mu, logvar, h, m)
            return -self.neg_log_px(self.decode(z), x) + losses.log_std_normal(z) - log_q

        return losses.iw_estimate(log_weights, k, chunk)
