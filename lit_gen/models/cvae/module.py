"""The conditional VAE of Attribute2Image (Yan, Yang, Sohn, Lee 2016), ``model.name=cvae``.

q(z | x, y) and p(x | y, z) both see the attribute vector y (see
:mod:`lit_gen.models.cvae.condition`); the prior is N(0, I). Images are modelled in
[-1, 1]; the likelihood is Gaussian with a learned per-pixel log-variance head
(the decoder's second output), Laplace with a learned per-pixel log-scale, or
Bernoulli (on [0, 1] pixels). Loss per image, in nats summed over pixels:
-log p(x | y, z) + beta * KL(q(z | x, y) || N(0, I)), reusing :mod:`lit_gen.models.vae.losses`. (The CVAE-GAN
variant, with a critic and a latent adversary on the GAN's training path, is :mod:`lit_gen.models.cvae_gan`.)

Protocol: ``sample(n, generator)`` draws y from its prior (uniform classes, uniform
continuous attributes) and z ~ N(0, I); ``reconstruct(x)`` needs y and returns None
without it (the attribute-grid callback passes y).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from lit_gen.models.base import GenerativeModule
from lit_gen.models.cvae.condition import Conditioner, resolve_condition
from lit_gen.spec import DataSpec, to_model_range, to_unit_range
from lit_gen.models.cvae.nets import CondDecoder, CondEncoder
from lit_gen.models.vae import VAE
from lit_gen.models.vae import losses


def soft_clamp(t: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return lo + F.softplus(hi - F.softplus(hi - t) - lo)


class Attr2ImgBase(GenerativeModule):
    """What cvae and discvae share: y, the Lightning steps, the generative protocol."""

    needs = ("image",)
    reparameterize = staticmethod(VAE.reparameterize)

    def __init__(self, model_cfg, optim_cfg, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        self.condition = resolve_condition(self.model_cfg.condition, data, self.model_cfg.name)
        self.cond = Conditioner(data, self.condition)

    def y_of(self, batch: dict) -> torch.Tensor:
        return self.cond.from_batch(batch).to(self.device)

    # subclasses: latent_size, loss_terms(batch), posterior_mean(x, y, mask), decode_model(z, y)
    def step_terms(self, batch: dict) -> dict:
        return self.loss_terms(batch)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for latents z (N, latent_size) and attributes y (N, Y)."""
        return to_unit_range(self.decode_model(z.to(self.device), y.to(self.device)))

    def prior_z(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return torch.randn(n, self.latent_size, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        y = self.cond.prior(n, generator)
        return self.generate(self.prior_z(n, generator), y)

    def traversal_code(self, batch: dict):
        """Posterior means of the batch's images given their own y, and the decoder under that y (traversals)."""
        y = self.y_of(batch)
        mask = batch["mask"].float() if "mask" in batch else None
        mu = self.posterior_mean(batch["image"], y, mask)

        def decode(z: torch.Tensor) -> torch.Tensor:
            n, s = z.shape[:2]
            out = self.generate(z.reshape(n * s, -1), y[:n].repeat_interleave(s, 0))
            return out.view(n, s, *out.shape[1:])

        return mu, decode

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None):
        if y is None:
            return None
        x = x.to(self.device)
        z = self.posterior_mean(x, y.to(self.device), None if mask is None else mask.to(self.device))
        return self.generate(z, y)


class CVAE(Attr2ImgBase):
    def __init__(self, model_cfg, optim_cfg, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        c = self.model_cfg
        self.latent_size = c.latent_dim
        heads = (data.channels,) if c.likelihood == "bernoulli" else (data.channels, data.channels)
        self.encoder = CondEncoder(data.channels, data.image_size, c.widths, self.cond.dim, c.latent_dim,
                                   c.feat_dim, c.y_hidden)
        self.decoder = CondDecoder(c.latent_dim, self.cond.dim, data.channels, data.image_size, c.widths, heads,
                                    tuple(c.dec_hidden))

    def encode(self, x01: torch.Tensor, y: torch.Tensor):
        return self.encoder(to_model_range(x01), y)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> tuple:
        """(mean in [-1, 1] or logits, log-variance or None)."""
        out = self.decoder(z, y)
        if self.model_cfg.likelihood == "bernoulli":
            return out[0], None
        return torch.tanh(out[0]), soft_clamp(out[1], self.model_cfg.min_logvar, self.model_cfg.max_logvar)

    def decode_model(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mean, _ = self.decode(z, y)
        return torch.sigmoid(mean) * 2 - 1 if self.model_cfg.likelihood == "bernoulli" else mean

    def neg_log_px(self, x01: torch.Tensor, mean: torch.Tensor, logvar: Optional[torch.Tensor]) -> torch.Tensor:
        if logvar is None:
            return losses.bernoulli_nll(mean, x01)
        if self.model_cfg.likelihood == "laplace":  # the head is log b^2, bounded like a log-variance
            return losses.laplace_nll(mean, to_model_range(x01), 0.5 * logvar)
        return losses.gaussian_nll(mean, to_model_range(x01), 0.5 * logvar)

    def posterior_mean(self, x01, y, mask=None):
        return self.encode(x01, y)[0]

    def elbo_terms(self, batch: dict) -> tuple[dict, torch.Tensor]:
        """(the loss terms per image, the posterior sample z they used)."""
        x, y = batch["image"], self.y_of(batch)
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar, 1)[0]
        recon = self.neg_log_px(x, *self.decode(z, y))
        kl = losses.gaussian_kl(mu, logvar)
        return {"recon": recon, "kl": kl, "loss": recon + self.model_cfg.beta * kl, "elbo": -(recon + kl)}, z

    def loss_terms(self, batch: dict) -> dict:
        return self.elbo_terms(batch)[0]
