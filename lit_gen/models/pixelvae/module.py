"""The PixelVAE (Gulrajani et al. 2017): a VAE whose decoder p(x|z) is autoregressive over the pixels.

The VAE's p(x|z) is a product of independent pixels, so everything z leaves open about a pixel is averaged into its
mean: blur (the lecture's second explanation, the restricted family of distributions). Here

    p(x|z) = prod_i p(x_i | x_<i, z),

in raster order: the VAE's conv (or MLP) decoder maps z to a feature map s at image resolution, and a small
conditional PixelCNN (:mod:`lit_gen.models.components.pixelcnn`) reads the image through masked convolutions, s
added at each layer. Each conditional is a mixture of ``logistic_mixtures`` discretised logistics over 256 levels
(:mod:`lit_gen.models.components.discretized_logistic`; data in [0, 1] are read as 8-bit levels) or a Bernoulli.
The encoder, the prior, the KL, ``mc_samples`` and ``beta`` are the VAE's.

Training and log p(x|z) are one teacher-forced pass. Generation is sequential: H x W passes of the PixelCNN, each
over the window of pixels the next one depends on. What each picture is:

- ``sample`` (grids, FID and the other sample metrics, ``lit_gen.sample``): draws x ~ p(x|z), z ~ N(0, I);
- ``reconstruct``: a draw x ~ p(x | z = the posterior mean), with a fixed seed;
- ``decode`` (latent traversals and sweeps): the *conditional-mean path*: each pixel in turn set to the exact mean
  of p(x_i | x_<i, z) given the pixels already set (for the logistic, rounded to its level). It is deterministic,
  but it is not E[x|z] (that averages the conditional means over draws of x_<i; no closed form).
  ``sample(..., mode="mean_path")`` and ``reconstruct(..., mode="mean_path")`` give it too.

The test NLL (``test/nll``) of the logistic likelihood is that of 8-bit images, a discrete likelihood: it does not
compare with the Bernoulli or Gaussian VAE's on grey-level data. A decoder strong enough to model the image alone
may leave z unused (KL near 0): watch ``kl``; a small PixelCNN (few layers, a small kernel) keeps z in use.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from lit_gen.errors import UserError
from lit_gen.models.base import GenerativeModule
from lit_gen.models.components import discretized_logistic as dlog
from lit_gen.models.components.conv import ConvDecoder, GaussianConvEncoder
from lit_gen.models.components.mlp import GaussianMLPEncoder, MLPDecoder
from lit_gen.models.components.pixelcnn import ConditionalPixelCNN
from lit_gen.models.optim import OptimConfig
from lit_gen.models.pixelvae.config import PixelVAEConfig
from lit_gen.models.vae import losses
from lit_gen.spec import DataSpec

LEVELS = 256


class PixelVAE(GenerativeModule):
    needs = ("image",)

    def __init__(self, model_cfg: PixelVAEConfig, optim_cfg: OptimConfig, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        c = self.model_cfg
        if not data.is_image:
            raise UserError(f"model.name=pixelvae models images; data are {data.vector_dim}-d vectors: use "
                            "model.name=vae")
        self.latent_dim = c.latent_dim
        C, S = data.channels, data.image_size
        cond_shape = (c.cond_channels, S, S)
        if c.net == "mlp":
            self.encoder = GaussianMLPEncoder(data.shape, c.hidden, c.latent_dim, c.activation)
            self.cond_net = MLPDecoder(c.latent_dim, list(reversed(c.hidden)), cond_shape, c.activation)
        else:
            self.encoder = GaussianConvEncoder(C, S, c.widths, c.latent_dim)
            self.cond_net = ConvDecoder(c.latent_dim, c.cond_channels, S, c.widths)
        self.logistic = c.likelihood == "discretized_logistic"
        params = 3 * c.logistic_mixtures if self.logistic else 1
        self.pixelcnn = ConditionalPixelCNN(C, c.cond_channels, c.pixelcnn_width, c.pixelcnn_layers,
                                            c.pixelcnn_kernel, params)

    # --- model pieces ---------------------------------------------------------------
    def encode(self, x: torch.Tensor):
        return self.encoder(x)

    def conditioning(self, z: torch.Tensor) -> torch.Tensor:
        """z (M, D) -> the feature map s (M, cond_channels, H, W) that every PixelCNN layer adds."""
        return self.cond_net(z)

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> the PixelCNN's input in [-1, 1] (the logistic reads the 8-bit levels)."""
        if self.logistic:
            x = dlog.to_bins(x, LEVELS).to(x.dtype) / (LEVELS - 1)
        return 2.0 * x - 1.0

    def _split(self, out: torch.Tensor):
        """PixelCNN output (..., params) -> (loc, log_scale, logits), each (..., K), or the Bernoulli logit (...)."""
        if not self.logistic:
            return out[..., 0]
        return out.chunk(3, dim=-1)

    def log_px_given_s(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log p(x|z) (M,), nats summed over pixels: x (M, C, H, W), s its conditioning (M, ...)."""
        # fp32 under bf16 autocast too: a bf16 number near 1 is only ~2 of the 256 levels fine
        out = self.pixelcnn(self.net_input(x), s).float().movedim(2, -1)  # (M, C, H, W, params)
        if self.logistic:
            loc, log_scale, logits = self._split(out)
            logp = dlog.mixture_log_prob(x, loc, log_scale, logits, dim=-1, bins=LEVELS)
        else:
            logit = self._split(out)
            logp = -(nn.functional.softplus(logit) - x * logit)
        return logp.flatten(1).sum(1)

    def neg_log_px(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z): z (L, N, D), x (N, C, H, W) -> (L, N)."""
        L, N = z.shape[:2]
        s = self.conditioning(z.reshape(L * N, -1))
        xs = x.unsqueeze(0).expand(L, *x.shape).reshape(L * N, *x.shape[1:])
        return -self.log_px_given_s(xs, s).view(L, N)

    reparameterize = staticmethod(losses.reparameterize)

    def loss_terms(self, x: torch.Tensor) -> dict:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, self.model_cfg.mc_samples)  # (L, N, D)
        recon = self.neg_log_px(z, x).mean(0)  # (N,)
        kl = losses.gaussian_kl(mu, logvar)
        return {"recon": recon, "kl": kl, "loss": recon + self.model_cfg.beta * kl, "elbo": -(recon + kl)}

    prog_bar_keys = ("loss", "elbo")

    def step_terms(self, batch: dict) -> dict:
        return self.loss_terms(batch["image"])

    # --- sequential generation ------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor, mode: str = "draw",
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Images (M, C, H, W) in [0, 1] from z (M, D), pixel by pixel in raster order (channels within a pixel).

        ``mode``: ``draw`` (x ~ p(x|z); the uniforms come from ``generator``) or ``mean_path`` (each value the mean
        of its conditional given the values already set).
        """
        if mode not in ("draw", "mean_path"):
            raise ValueError(f"mode {mode!r}: draw or mean_path")
        C, H, W = self.data.shape
        M = z.shape[0]
        s = self.conditioning(z)
        x = torch.zeros(M, C, H, W, device=z.device)  # fp32 whatever the autocast: the 256 levels exactly
        xin = self.net_input(x)
        if mode == "draw":  # all the uniforms at once, on the CPU: the same draws on any device
            u = torch.rand(2, H, W, C, M, generator=generator).to(z.device)
        for i in range(H):
            for j in range(W):
                for c in range(C):
                    out = self.pixelcnn.forward_at(xin, s, i, j)[:, c].float()  # (M, params)
                    if mode == "draw":
                        v = self._draw(out, u[0, i, j, c], u[1, i, j, c])
                    else:
                        v = self._mean(out)
                    x[:, c, i, j] = v
                    xin[:, c, i, j] = 2.0 * v - 1.0
        return x

    def _draw(self, out: torch.Tensor, u_comp: torch.Tensor, u_val: torch.Tensor) -> torch.Tensor:
        if not self.logistic:
            return (u_val < torch.sigmoid(self._split(out))).to(out.dtype)
        loc, log_scale, logits = self._split(out)
        return dlog.mixture_sample(loc, log_scale, logits, -1, u_comp, u_val, LEVELS)

    def _mean(self, out: torch.Tensor) -> torch.Tensor:
        if not self.logistic:
            return torch.sigmoid(self._split(out))
        loc, log_scale, logits = self._split(out)
        m = dlog.mixture_mean(loc, log_scale, logits, -1, LEVELS)
        return torch.round(m * (LEVELS - 1)) / (LEVELS - 1)  # the nearest level: the inputs it was trained on

    # --- the generative protocol ----------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None, mode: str = "draw") -> torch.Tensor:
        """Draws x ~ p(x|z), z ~ N(0, I) (``mode="mean_path"``: the conditional-mean path of each z instead)."""
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.generate(z, mode, generator)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, mode: str = "draw") -> torch.Tensor:
        """A draw x' ~ p(x | z = the posterior mean of x), the same uniforms every call (or the mean path)."""
        mu, _ = self.encode(x.to(self.device))
        return self.generate(mu, mode, torch.Generator().manual_seed(0))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., D) -> the conditional-mean path (..., C, H, W) in [0, 1] (for traversals and latent sweeps)."""
        lead = z.shape[:-1]
        out = self.generate(z.reshape(-1, z.shape[-1]), "mean_path")
        return out.view(*lead, *out.shape[1:])

    def to_image(self, images: torch.Tensor) -> torch.Tensor:
        return images  # decode already gives images in [0, 1]

    def traversal_code(self, batch: dict):
        """Posterior means of the batch's images and the conditional-mean-path decoder (for latent traversals)."""
        mu, _ = self.encode(batch["image"])
        return mu, self.decode

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int = 5000, chunk: int = 500) -> torch.Tensor:
        """Importance-weighted estimate of log p(x) per image (Burda et al. 2015), nats; log p(x|z_k) teacher-forced,
        one PixelCNN pass per importance sample, ``chunk`` samples at a time."""
        mu, logvar = self.encode(x)

        def log_weights(m: int) -> torch.Tensor:
            z = self.reparameterize(mu, logvar, m)  # (m, N, D)
            return -self.neg_log_px(z, x) + losses.log_std_normal(z) - losses.log_normal(z, mu, logvar)

        return losses.iw_estimate(log_weights, k, chunk)
