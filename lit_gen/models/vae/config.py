"""Typed config of the VAE (``model.name=vae``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lit_gen.bounds import bounded

from lit_gen.errors import UserError
from lit_gen.models.components.sizes import num_stages


def check_conv_size(net: str, image_size: int) -> None:
    """Conv nets need a power-of-two image size; say so in terms of the config key."""
    if net != "conv":
        return
    try:
        num_stages(image_size)
    except ValueError:
        raise UserError(
            f"data.image_size={image_size}: the conv net needs a power of two >= 8 (e.g. 32 or 64); "
            "or use model.net=mlp"
        ) from None


def check_widths(key: str, widths, allow_empty: bool = False) -> None:
    if (not widths and not allow_empty) or any(not isinstance(w, int) or w < 1 for w in widths):
        raise UserError(f"{key}={list(widths)}: must be a {'' if allow_empty else 'non-empty '}list of positive ints")


@dataclass
class VAEConfig:
    name: str = "vae"
    net: Literal["conv", "mlp"] = "conv"
    latent_dim: int = bounded(32, ge=1)
    hidden: list = field(default_factory=lambda: [200, 200])  # mlp widths
    activation: Literal["tanh", "relu", "leaky_relu", "elu"] = "tanh"  # mlp activation
    widths: list = field(default_factory=lambda: [32, 64, 128])  # conv widths, from the image side
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    sigma: float = bounded(0.1, gt=0)  # gaussian decoder std (initial value if learn_sigma)
    learn_sigma: bool = False  # learn a per-pixel log sigma
    mc_samples: int = bounded(1, ge=1)  # L: reparameterized samples per data point
    beta: float = bounded(1.0, ge=0)  # weight of the KL term (1 = the ELBO)
    init_output_bias: bool = True  # decoder output bias = logit of the training pixel means

    def validate(self, cfg) -> None:
        check_widths("model.widths", self.widths)
        check_widths("model.hidden", self.hidden, allow_empty=True)
        check_conv_size(self.net, cfg.data.image_size)
