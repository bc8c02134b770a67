"""The VAE (Kingma & Welling 2014) as a LightningModule.

Loss per image = -E_q[log p(x|z)] (L reparameterized samples) + beta * KL(q(z|x) || N(0, I)),
in nats summed over pixels. With beta = 1 its negative is the ELBO.

Vector data (the toy densities) need ``model.net=mlp`` and ``model.likelihood=gaussian``: the
decoder's output is then the mean itself (no sigmoid: the data are not in [0, 1]).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from lit_gen.errors import UserError
from lit_gen.models.base import GenerativeModule
from lit_gen.models.components.conv import ConvDecoder, GaussianConvEncoder
from lit_gen.models.components.mlp import GaussianMLPEncoder, MLPDecoder
from lit_gen.models.optim import OptimConfig
from lit_gen.models.vae import losses
from lit_gen.models.vae.config import VAEConfig
from lit_gen.spec import DataSpec


def build_vae_nets(cfg: VAEConfig, data: DataSpec) -> tuple[nn.Module, nn.Module]:
    if not data.is_image and cfg.net != "mlp":
        raise UserError(f"model.net={cfg.net}: the data are {data.vector_dim}-d vectors, not images; use model.net=mlp")
    if cfg.net == "mlp":
        enc = GaussianMLPEncoder(data.shape, cfg.hidden, cfg.latent_dim, cfg.activation)
        dec = MLPDecoder(cfg.latent_dim, list(reversed(cfg.hidden)), data.shape, cfg.activation)
    else:
        enc = GaussianConvEncoder(data.channels, data.image_size, cfg.widths, cfg.latent_dim)
        dec = ConvDecoder(cfg.latent_dim, data.channels, data.image_size, cfg.widths)
    return enc, dec


class VAE(GenerativeModule):
    needs = ("image",)

    def __init__(self, model_cfg: VAEConfig, optim_cfg: OptimConfig, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        c = self.model_cfg
        if not data.is_image and c.likelihood != "gaussian":
            raise UserError(f"model.likelihood={c.likelihood}: the data are real-valued vectors; use "
                            "model.likelihood=gaussian")
        self.latent_dim = c.latent_dim
        self.encoder, self.decoder = build_vae_nets(c, data)
        if c.likelihood == "gaussian":
            init = torch.full(data.shape, math.log(c.sigma))
            self.log_sigma = nn.Parameter(init, requires_grad=c.learn_sigma)
        if c.init_output_bias and data.pixel_mean is not None:
            self._init_output_bias(torch.tensor(data.pixel_mean).view(data.shape))

    @torch.no_grad()
    def _init_output_bias(self, mean_image: torch.Tensor) -> None:
        """Start the decoder at the data's mean image (the IWAE paper's logit init)."""
        bias = self.decoder.output_bias
        if not self.data.is_image:  # real-valued means: the mean vector itself, unclamped
            bias.copy_(mean_image.reshape(bias.shape))
            return
        target = mean_image if bias.numel() == mean_image.numel() else mean_image.mean(dim=(1, 2))
        p = target.clamp(1e-3, 1 - 1e-3)
        value = torch.log(p) - torch.log1p(-p) if self.model_cfg.likelihood == "bernoulli" else p
        bias.copy_(value.reshape(bias.shape))

    # --- model pieces ---------------------------------------------------------------
    def encode(self, x: torch.Tensor):
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., D) -> raw decoder output (..., C, H, W): logits (bernoulli) or pre-sigmoid means."""
        lead = z.shape[:-1]
        out = self.decoder(z.reshape(-1, z.shape[-1]))
        return out.view(*lead, *out.shape[1:])

    def to_image(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw decoder output -> data space: pixel means in [0, 1], or the vector mean itself."""
        return torch.sigmoid(raw) if self.data.is_image else raw

    def neg_log_px(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        dims = len(self.data.shape)
        if self.model_cfg.likelihood == "bernoulli":
            return losses.bernoulli_nll(raw, x, dims)
        return losses.gaussian_nll(self.to_image(raw), x, self.log_sigma, dims)

    reparameterize = staticmethod(losses.reparameterize)

    def loss_terms(self, x: torch.Tensor) -> dict:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, self.model_cfg.mc_samples)  # (L, N, D)
        recon = self.neg_log_px(self.decode(z), x).mean(0)  # (N,)
        kl = losses.gaussian_kl(mu, logvar)  # (N,)
        return {"recon": recon, "kl": kl, "loss": recon + self.model_cfg.beta * kl, "elbo": -(recon + kl)}

    prog_bar_keys = ("loss", "elbo")

    def step_terms(self, batch: dict) -> dict:
        return self.loss_terms(batch["image"])

    # --- the generative protocol ----------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        x = self.to_image(self.decode(z))
        if not self.data.is_image:
            # a density sample is x ~ p(x|z), not the decoder mean: the means alone lie on a 1-D curve
            eps = torch.randn(x.shape, generator=generator).to(x)
            x = x + self.log_sigma.exp() * eps
        return x

    @torch.no_grad()
    def sample_draw(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """x ~ p(x|z) on the z that ``sample`` draws from the same generator (``sample`` shows the decoder's mean):
        Bernoulli pixels in {0, 1}, or the mean plus sigma-scaled Gaussian noise, clipped to [0, 1]."""
        mean = self.sample(n, generator)
        if not self.data.is_image:
            return mean  # vectors: sample is a draw already
        if self.model_cfg.likelihood == "bernoulli":
            return (torch.rand(mean.shape, generator=generator).to(mean) < mean).to(mean.dtype)
        noise = self.log_sigma.exp() * torch.randn(mean.shape, generator=generator).to(mean)
        return (mean + noise).clamp(0, 1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.encode(x.to(self.device))
        return self.to_image(self.decode(mu))

    def traversal_code(self, batch: dict):
        """Posterior means of the batch's images and their decoder (for latent traversals)."""
        mu, _ = self.encode(batch["image"])
        return mu, lambda z: self.to_image(self.decode(z))

    def decoder_mean(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, D) -> the mean of p(x|z) in data space (pixels in [0, 1]), differentiable in z (for AIS)."""
        return self.to_image(self.decode(z))

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) (N,) under the model's own likelihood (Bernoulli or Gaussian), nats, differentiable in z."""
        return -self.neg_log_px(self.decode(z), x)

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int = 5000, chunk: int = 500) -> torch.Tensor:
        """Importance-weighted estimate of log p(x) per image (Burda et al. 2015), nats.

        log p(x) ~ logmeanexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)], z_k ~ q(z|x).
        The k samples are taken ``chunk`` at a time, so memory stays bounded for k = 5000.
        With k = 1 its expectation is the ELBO.
        """
        mu, logvar = self.encode(x)
        return losses.iw_estimate(lambda m: self.log_weights(x, mu, logvar, m)[0], k, chunk)

    def log_weights(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int) -> tuple:
        """(log w (k, N), log p(x|z) (k, N)) for k reparameterized samples z_i ~ q(z|x) of each item."""
        z = self.reparameterize(mu, logvar, k)  # (k, N, D)
        log_px = -self.neg_log_px(self.decode(z), x)
        return log_px + losses.log_std_normal(z) - losses.log_normal(z, mu, logvar), log_px
