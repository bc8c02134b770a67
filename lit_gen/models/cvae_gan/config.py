"""Typed config of the CVAE-GAN (``model.name=cvae_gan``): the CVAE's keys plus the weights of its adversarial terms."""

from __future__ import annotations

from dataclasses import dataclass

from lit_gen.bounds import bounded
from lit_gen.errors import UserError
from lit_gen.models.cvae.config import CVAEConfig


@dataclass
class CVAEGANConfig(CVAEConfig):
    name: str = "cvae_gan"
    # the decoder's terms on prior samples (z ~ N(0, I), y from its prior), judged by the critic
    classifier_weight: float = bounded(1.0, ge=0)  # the critic reads y back from them (cross-entropy)
    realism_weight: float = bounded(1.0, ge=0)  # the critic takes them for real (the non-saturating GAN loss)
    # every image the critic sees in training is moved by up to this many pixels each way, at random (real and
    # generated alike), so the decoder cannot satisfy it with a pattern tied to one position; 0 = off
    classifier_shift: int = 0
    # > 0: a latent adversary predicts the discrete attributes from z, and the encoder is trained to defeat it
    # with this weight (lit_gen/models/cvae_gan/adversary.py); 0 = off
    adversary_weight: float = bounded(0.0, ge=0, note="(0 = off)")
    adversary_hidden: int = bounded(256, ge=1)

    def validate(self, cfg) -> None:
        super().validate(cfg)
        half = cfg.data.image_size // 2
        if not 0 <= self.classifier_shift < half:
            raise UserError(f"model.classifier_shift={self.classifier_shift}: must be in [0, {half}) pixels for "
                            f"data.image_size={cfg.data.image_size} (0 = off)")
