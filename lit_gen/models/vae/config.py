"""Typed config of the VAE (``model.name=vae``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lit_gen.errors import UserError


def check_conv_size(net: str, image_size: int) -> None:
    """Conv nets need a power-of-two image size; say so in terms of the config key."""
    from lit_gen.models.components.conv import num_stages

    if net != "conv":
        return
    try:
        num_stages(image_size)
    except ValueError:
        raise UserError(
            f"data.image_size={image_size}: the conv net needs a power of two >= 8 (e.g. 32 or 64); "
            "or use model.net=mlp"
        ) from None


@dataclass
class VAEConfig:
    name: str = "vae"
    net: str = "conv"  # conv | mlp
    latent_dim: int = 32
    hidden: list = field(default_factory=lambda: [200, 200])  # mlp widths
    activation: str = "tanh"  # mlp activation: tanh | relu | leaky_relu | elu
    widths: list = field(default_factory=lambda: [32, 64, 128])  # conv widths, from the image side
    likelihood: str = "bernoulli"  # bernoulli | gaussian
    sigma: float = 0.1  # gaussian decoder std (initial value if learn_sigma)
    learn_sigma: bool = False  # learn a per-pixel log sigma
    mc_samples: int = 1  # L: reparameterized samples per data point
    beta: float = 1.0  # weight of the KL term (1 = the ELBO)
    init_output_bias: bool = True  # decoder output bias = logit of the training pixel means

    def validate(self, cfg) -> None:
        if self.net not in ("conv", "mlp"):
            raise UserError(f"model.net={self.net!r}: choose one of conv, mlp")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise UserError(f"model.likelihood={self.likelihood!r}: choose one of bernoulli, gaussian")
        if self.activation not in ("tanh", "relu", "leaky_relu", "elu"):
            raise UserError(f"model.activation={self.activation!r}: choose one of tanh, relu, leaky_relu, elu")
        if self.latent_dim < 1:
            raise UserError(f"model.latent_dim={self.latent_dim}: must be >= 1")
        if self.mc_samples < 1:
            raise UserError(f"model.mc_samples={self.mc_samples}: must be >= 1")
        if self.beta < 0:
            raise UserError(f"model.beta={self.beta}: must be >= 0")
        if self.sigma <= 0:
            raise UserError(f"model.sigma={self.sigma}: must be positive")
        if not self.widths or any(w < 1 for w in self.widths):
            raise UserError(f"model.widths={list(self.widths)}: must be a non-empty list of positive ints")
        if any(h < 1 for h in self.hidden):
            raise UserError(f"model.hidden={list(self.hidden)}: must be positive ints")
        check_conv_size(self.net, cfg.data.image_size)
