"""Typed config of the sequential VAE (``model.name=seqvae``): the VAE's keys plus the chain's length and the size of
the previous sample's code."""

from __future__ import annotations

from dataclasses import dataclass

from lit_gen.bounds import bounded
from lit_gen.errors import UserError
from lit_gen.models.vae.config import VAEConfig


@dataclass
class SeqVAEConfig(VAEConfig):
    name: str = "seqvae"
    steps: int = bounded(3, ge=1, note="(1 is the VAE)")  # T: VAE steps in the chain
    embed_dim: int = bounded(32, ge=1)  # size of g_t(x_{t-1}), the code of the previous output that step t reads

    def validate(self, cfg) -> None:
        super().validate(cfg)
        # one chain per item: an L-sample average would need L chains, which the paper does not use
        if self.mc_samples != 1:
            raise UserError(f"model.mc_samples={self.mc_samples}: the sequential VAE draws one z per step; "
                            "leave mc_samples at 1")
