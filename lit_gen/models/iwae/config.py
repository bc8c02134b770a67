"""Typed config of the IWAE (``model.name=iwae``): the VAE's keys plus ``k``, the importance samples per item."""

from __future__ import annotations

from dataclasses import dataclass

from lit_gen.bounds import bounded
from lit_gen.errors import UserError
from lit_gen.models.vae.config import VAEConfig


@dataclass
class IWAEConfig(VAEConfig):
    name: str = "iwae"
    k: int = bounded(5, ge=1, note="(1 is the VAE's ELBO)")  # importance samples per item in the training bound

    def validate(self, cfg) -> None:
        super().validate(cfg)
        # the bound has no L-sample average and no separate KL term to weight: both VAE keys stay at 1
        if self.mc_samples != 1:
            raise UserError(f"model.mc_samples={self.mc_samples}: the IWAE draws model.k samples per item; "
                            "set model.k instead and leave mc_samples at 1")
        if self.beta != 1.0:
            raise UserError(f"model.beta={self.beta}: the IWAE bound has no separate KL term to weight; leave "
                            "beta at 1 (or use model.name=vae)")
