"""Typed config of Ada-GVAE (``model.name=adagvae``): the VAE's keys; its pairs come from ``data.factor_pairs``."""

from __future__ import annotations

from dataclasses import dataclass

from lit_gen.errors import UserError
from lit_gen.models.vae.config import VAEConfig


@dataclass
class AdaGVAEConfig(VAEConfig):
    name: str = "adagvae"
    latent_dim: int = 10

    def validate(self, cfg) -> None:
        super().validate(cfg)
        if not cfg.data.factor_pairs:
            raise UserError("model.name=adagvae trains on pairs that differ in k factor groups: set data.factor_pairs=k "
                            "(k >= 1; Locatello et al. use k = 1)")
