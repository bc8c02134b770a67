"""Typed configs of the Attribute2Image models: ``model.name=cvae`` and ``model.name=discvae``."""

from __future__ import annotations

from dataclasses import dataclass, field

from lit_gen.errors import UserError
from lit_gen.models.vae.config import check_conv_size

CONDITIONS = ("auto", "attributes", "label")


def check_shared(c, size_keys: tuple, cfg) -> None:
    """What cvae and discvae check alike: the condition, positive sizes, the conv widths, beta, the image size."""
    if c.condition not in CONDITIONS:
        raise UserError(f"model.condition={c.condition!r}: choose one of {', '.join(CONDITIONS)}")
    for key in size_keys:
        if getattr(c, key) < 1:
            raise UserError(f"model.{key}={getattr(c, key)}: must be >= 1")
    if not c.widths or any(w < 1 for w in c.widths):
        raise UserError(f"model.widths={list(c.widths)}: must be a non-empty list of positive ints")
    if c.beta < 0:
        raise UserError(f"model.beta={c.beta}: must be >= 0")
    check_conv_size("conv", cfg.data.image_size)


@dataclass
class CVAEConfig:
    name: str = "cvae"
    # y: attributes (scenes' 15 columns) | label (one-hot class, e.g. MNIST digits) | auto (attributes if the data has them)
    condition: str = "auto"
    latent_dim: int = 64
    widths: list = field(default_factory=lambda: [64, 128, 256])  # conv widths, from the image side
    feat_dim: int = 256  # h_x: the image branch's feature size
    y_hidden: int = 64  # h_y: the attribute branch's width (y -> Linear -> ReLU)
    likelihood: str = "gaussian"  # gaussian (learned per-pixel log-variance head) | bernoulli
    min_logvar: float = -7.0  # soft bounds of the decoder's per-pixel log-variance (gaussian)
    max_logvar: float = 2.0
    beta: float = 1.0  # weight of the KL term
    # y' also enters every upsampling stage of the decoder (a per-channel bias), not only the FC input;
    # tried twice (beta 1 and beta 3) and no better than the paper's single entry (docs/results.md)
    y_all_stages: bool = False

    def validate(self, cfg) -> None:
        check_shared(self, ("latent_dim", "feat_dim", "y_hidden"), cfg)
        if self.likelihood not in ("gaussian", "bernoulli"):
            raise UserError(f"model.likelihood={self.likelihood!r}: choose one of gaussian, bernoulli")
        if not self.min_logvar < self.max_logvar:
            raise UserError(f"model.min_logvar={self.min_logvar}: must be below model.max_logvar={self.max_logvar}")


@dataclass
class DisCVAEConfig:
    name: str = "discvae"
    condition: str = "auto"
    fg_latent_dim: int = 32  # z_F
    bg_latent_dim: int = 16  # z_B
    widths: list = field(default_factory=lambda: [64, 128, 256])
    feat_dim: int = 256
    y_hidden: int = 64
    gate_weight: float = 0.3  # weight of BCE(g, 1 - mask)
    beta: float = 1.0  # weight of the two KL terms

    def validate(self, cfg) -> None:
        check_shared(self, ("fg_latent_dim", "bg_latent_dim", "feat_dim", "y_hidden"), cfg)
        if self.gate_weight < 0:
            raise UserError(f"model.gate_weight={self.gate_weight}: must be >= 0")
