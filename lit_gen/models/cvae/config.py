"""Typed configs of the Attribute2Image models: ``model.name=cvae`` and ``model.name=discvae``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from lit_gen.bounds import bounded

from lit_gen.errors import UserError
from lit_gen.models.vae.config import check_conv_size, check_widths

Condition = Literal["auto", "attributes", "label"]


def check_shared(c, cfg) -> None:
    """What cvae and discvae check alike beyond their fields' bounds: the conv widths, the classifier's settings and
    the image size."""
    check_widths("model.widths", c.widths)
    check_widths("model.dec_hidden", c.dec_hidden, allow_empty=True)
    if c.classifier_shift < 0 or c.classifier_shift >= cfg.data.image_size // 2:
        raise UserError(f"model.classifier_shift={c.classifier_shift}: must be in [0, {cfg.data.image_size // 2}) "
                        f"pixels for data.image_size={cfg.data.image_size} (0 = off)")
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
    # > 0: an MLP predicts the discrete attributes from z, and the encoder, through a reversed gradient, is
    # trained to defeat it with this weight (lit_gen/models/cvae/adversary.py); 0 = off, as in the paper
    adversary_weight: float = bounded(0.0, ge=0, note="(0 = off)")
    adversary_hidden: int = bounded(256, ge=1)
    # > 0: a classifier learns the discrete attributes from real images while the model trains, and prior samples
    # are trained to be read as their y by it, with this weight (lit_gen/models/cvae/classifier.py); 0 = off
    classifier_weight: float = bounded(0.0, ge=0, note="(0 = off)")
    # > 0: that classifier also learns to tell real from generated images (a GAN discriminator), and prior samples
    # are trained to pass for real, with this weight (the non-saturating GAN loss); 0 = off
    realism_weight: float = bounded(0.0, ge=0, note="(0 = off)")
    # > 0: every image the classifier sees in training is moved by up to this many pixels each way, at random
    # (real and generated alike), so the decoder cannot satisfy it with a pattern tied to one position
    # (measured in docs/results.md)
    classifier_shift: int = 0

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
    # as cvae's; the composite x_hat of prior samples is what is classified
    classifier_weight: float = bounded(0.0, ge=0, note="(0 = off)")
    realism_weight: float = bounded(0.0, ge=0, note="(0 = off)")  # as cvae's
    classifier_shift: int = 0  # as cvae's

    def validate(self, cfg) -> None:
        check_shared(self, cfg)
