"""Typed config of the PixelVAE (``model.name=pixelvae``): the VAE's encoder keys, an autoregressive decoder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lit_gen.bounds import bounded
from lit_gen.errors import UserError
from lit_gen.models.vae.config import check_conv_size, check_widths


@dataclass
class PixelVAEConfig:
    name: str = "pixelvae"
    # the encoder, and the net that maps z to the conditioning feature map: the VAE's conv or MLP nets
    net: Literal["conv", "mlp"] = "conv"
    latent_dim: int = bounded(32, ge=1)
    hidden: list = field(default_factory=lambda: [200, 200])  # mlp widths
    activation: Literal["tanh", "relu", "leaky_relu", "elu"] = "tanh"  # mlp activation
    widths: list = field(default_factory=lambda: [32, 64, 128])  # conv widths, from the image side
    cond_channels: int = bounded(8, ge=1)  # channels of the z feature map at image resolution
    # the PixelCNN over the image: the first layer's mask is type A, the others' type B
    pixelcnn_layers: int = bounded(3, ge=1)
    pixelcnn_width: int = bounded(16, ge=1)  # channels of each gated layer (a multiple of data.channels)
    pixelcnn_kernel: int = bounded(3, ge=1)  # odd; 1 leaves only z: a factorised decoder
    # p(x_i | x_<i, z): a mixture of discretised logistics over 256 levels (PixelCNN++), or Bernoulli (binary data)
    likelihood: Literal["discretized_logistic", "bernoulli"] = "discretized_logistic"
    logistic_mixtures: int = bounded(5, ge=1)
    mc_samples: int = bounded(1, ge=1)  # L: reparameterized samples per data point
    beta: float = bounded(1.0, ge=0)  # weight of the KL term (1 = the ELBO)

    def validate(self, cfg) -> None:
        check_widths("model.widths", self.widths)
        check_widths("model.hidden", self.hidden, allow_empty=True)
        check_conv_size(self.net, cfg.data.image_size)
        if self.pixelcnn_kernel % 2 != 1:
            raise UserError(f"model.pixelcnn_kernel={self.pixelcnn_kernel}: must be odd (the mask's centre tap is "
                            "the current pixel)")
        channels = cfg.data.channels
        if channels and self.pixelcnn_width % channels:
            raise UserError(f"model.pixelcnn_width={self.pixelcnn_width}: must be a multiple of "
                            f"data.channels={channels} (one group of units per image channel)")
