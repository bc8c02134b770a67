"""The sequential VAE (Zhao, Song & Ermon 2017, "Towards a Deeper Understanding of Variational Autoencoding Models",
Section 6) as a LightningModule.

The paper's argument: a VAE whose p(x|z) is a simple factorised family can only match the data where one step of
z -> x suffices; a Markov chain of such steps, each a VAE that refines the previous step's output, can represent a
much richer p(x). Generation runs the chain

    z_1 ~ N(0, I),  x_1 = mean of p(x | z_1)                                  (step 1 is the VAE's decoder)
    z_t ~ N(0, I),  x_t = mean of p(x | z_t, g_t(x_{t-1})),  t = 2..T         (g_t: a code of the previous output)

and a sample is x_T (its mean, as the VAE's samples are; ``sample_draw`` draws from p(x | ...) at the last step).
Every step has its own networks (the paper's inhomogeneous chain). Training follows the paper: each step t has its
own recognition model q_t(z_t | x) of the data, every step reconstructs x, the loss is the sum of the steps'
negative ELBOs, sum_t [-log p(x | z_t, x_{t-1}) + beta KL(q_t(z_t|x) || N(0, I))], and no gradient passes from one
step into the previous one (the previous output enters as a constant).

As a latent-variable model of x, the chain is p(x | z_1..z_T) at its last step with the prior N(0, I) on the
concatenated z = [z_1, ..., z_T]; q(z|x) = prod_t q_t(z_t|x). So the logged ``elbo`` is the last step's bound
log p(x | z) - sum_t KL_t, ``recon`` is the last step's -log p(x | z), ``kl`` the sum over steps, and the IW-NLL,
latent traversals and AIS see the T * latent_dim code through ``encode``/``decode`` as they see the VAE's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lit_gen.models.components.conv import ConvDecoder, conv_down
from lit_gen.models.components.mlp import MLPDecoder, mlp
from lit_gen.models.optim import OptimConfig
from lit_gen.models.seqvae.config import SeqVAEConfig
from lit_gen.models.vae import VAE, losses
from lit_gen.models.vae.module import build_vae_nets
from lit_gen.spec import DataSpec


class RefineStep(nn.Module):
    """Step t >= 2: its recognition model q_t(z_t|x), the code g_t of the previous output, and its decoder."""

    def __init__(self, cfg: SeqVAEConfig, data: DataSpec):
        super().__init__()
        self.encoder, _ = build_vae_nets(cfg, data)
        if cfg.net == "mlp":
            body = mlp([math.prod(data.shape), *cfg.hidden], cfg.activation, final_activation=True)
            features = cfg.hidden[-1] if cfg.hidden else math.prod(data.shape)
            self.embed = nn.Sequential(nn.Flatten(), body, nn.Linear(features, cfg.embed_dim))
            self.decoder = MLPDecoder(cfg.latent_dim + cfg.embed_dim, list(reversed(cfg.hidden)), data.shape,
                                      cfg.activation)
        else:
            body, features = conv_down(data.channels, data.image_size, cfg.widths)
            self.embed = nn.Sequential(body, nn.Linear(features, cfg.embed_dim))
            self.decoder = ConvDecoder(cfg.latent_dim + cfg.embed_dim, data.channels, data.image_size, cfg.widths)

    def forward(self, z: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """z_t (N, D) and the previous output x_{t-1} in data space (N, ...) -> this step's raw output."""
        return self.decoder(torch.cat([z, self.embed(previous)], dim=-1))


class SeqVAE(VAE):
    def __init__(self, model_cfg: SeqVAEConfig, optim_cfg: OptimConfig, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)  # self.encoder, self.decoder: step 1
        c = self.model_cfg
        self.refine = nn.ModuleList(RefineStep(c, data) for _ in range(c.steps - 1))
        with torch.no_grad():  # every step starts from the data's mean image, as step 1 does
            for step in self.refine:
                step.decoder.output_bias.copy_(self.decoder.output_bias)
        self.step_dim = c.latent_dim
        self.latent_dim = c.steps * c.latent_dim  # the code z = [z_1, ..., z_T]

    def step_posteriors(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(mu_t, logvar_t) of q_t(z_t|x)] for t = 1..T."""
        return [self.encoder(x)] + [step.encoder(x) for step in self.refine]

    def encode(self, x: torch.Tensor):
        """(mu, logvar) of q(z|x) = prod_t q_t(z_t|x), each (N, T * latent_dim)."""
        mus, logvars = zip(*self.step_posteriors(x))
        return torch.cat(mus, dim=-1), torch.cat(logvars, dim=-1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., T * latent_dim) -> the last step's raw output (..., C, H, W), the chain run on the step means."""
        lead = z.shape[:-1]
        zs = z.reshape(-1, z.shape[-1]).split(self.step_dim, dim=-1)
        raw = self.decoder(zs[0])
        for step, z_t in zip(self.refine, zs[1:]):
            raw = step(z_t, self.to_image(raw))
        return raw.view(*lead, *raw.shape[1:])

    def loss_terms(self, x: torch.Tensor) -> dict:
        beta = self.model_cfg.beta
        terms, loss, kl, previous = {}, 0.0, 0.0, None
        for t, (mu, logvar) in enumerate(self.step_posteriors(x)):
            z = self.reparameterize(mu, logvar, 1)[0]
            raw = self.decoder(z) if t == 0 else self.refine[t - 1](z, previous)
            recon_t, kl_t = self.neg_log_px(raw, x), losses.gaussian_kl(mu, logvar)
            terms[f"recon_{t + 1}"] = recon_t
            loss, kl = loss + recon_t + beta * kl_t, kl + kl_t
            previous = self.to_image(raw).detach()  # the paper's stop-gradient between steps
        return {"recon": recon_t, "kl": kl, "loss": loss, "elbo": -(recon_t + kl), **terms}
