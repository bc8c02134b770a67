"""Typed configs of the Attribute2Image models: ``model.name=cvae`` and ``model.name=discvae``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from lit_gen.bounds import bounded

from lit_gen.errors import UserError
from lit_gen.models.vae.config import check_conv_size, check_widths

Condition = Literal["auto", "attributes", "label"]


def check_shared(c, cfg) -> None:
    """What cvae and discvae check alike beyond their fields' bounds: the conv widths and the image size."""
    check_widths("model.widths", c.widths)
    check_widths("model.dec_hidden", c.dec_hidden, allow_empty=True)
    check_conv_size("conv", cfg.data.image_size)


@dataclass
class CVAEConfig:
    name: str = "cvae"
    # y: attributes (scenes' 15 columns) | label (one-hot class, e.g. MNIST digits) | auto (attributes if the data has them)
    condition: Condition = "auto"
    latent_dim: int = bounded(64, ge=1)
    widths: list = field(default_factory=lambda: [64, 128, 256])  # conv widths, from the image side
    feat_dim: int = bounded(256, ge=1)  # h_x: the image branch's feature size
    y_hidden: int = bounded(64, ge=1)  # h_y: the attribute branch's width (y -> Linear -> ReLU)
    # gaussian | laplace (each with a learned per-pixel log-variance / log-scale head) | bernoulli
    likelihood: Literal["gaussian", "laplace", "bernoulli"] = "gaussian"
    min_logvar: float = -7.0  # soft bounds of the decoder's per-pixel log-variance (gaussian) or log b^2 (laplace)
    max_logvar: float = 2.0
    beta: float = bounded(1.0, ge=0)  # weight of the KL term
    # hidden layer widths of an MLP on [z; y'] before the decoder's FC (the paper: none): drawing a shape from y is a
    # non-linear function of shape, pose and size (measured in docs/results.md)
    dec_hidden: list = field(default_factory=list)

    def validate(self, cfg) -> None:
        check_shared(self, cfg)
        if not self.min_logvar < self.max_logvar:
            raise UserError(f"model.min_logvar={self.min_logvar}: must be below model.max_logvar={self.max_logvar}")


@dataclass
class DisCVAEConfig:
    name: str = "discvae"
    condition: Condition = "auto"
    fg_latent_dim: int = bounded(32, ge=1)  # z_F
    bg_latent_dim: int = bounded(16, ge=1)  # z_B
    widths: list = field(default_factory=lambda: [64, 128, 256])
    feat_dim: int = bounded(256, ge=1)
    y_hidden: int = bounded(64, ge=1)
    gate_weight: float = bounded(0.3, ge=0)  # weight of BCE(g, 1 - mask)
    dec_hidden: list = field(default_factory=list)  # as cvae's, for the foreground decoder
    beta: float = bounded(1.0, ge=0)  # weight of KL(z_F), and of KL(z_B) unless beta_bg is set
    # weight of KL(z_B); None = beta. The foreground is almost fixed by y, so z_F can afford a full KL, while the
    # textured background lives in z_B alone and collapses under it (docs/results.md)
    beta_bg: Optional[float] = bounded(None, ge=0, note="(or null: the same as model.beta)")

    def validate(self, cfg) -> None:
        check_shared(self, cfg)
