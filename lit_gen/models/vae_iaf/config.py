"""Typed config of the VAE with an IAF posterior (``model.name=vae_iaf``): the VAE's keys plus the flow's."""

from __future__ import annotations

from dataclasses import dataclass

from lit_gen.bounds import bounded
from lit_gen.models.vae.config import VAEConfig


@dataclass
class VAEIAFConfig(VAEConfig):
    name: str = "vae_iaf"
    iaf_steps: int = bounded(2, ge=0, note="(0: the encoder's diagonal Gaussian, with a sampled KL)")  # T
    iaf_hidden: int = bounded(200, ge=1)  # width of each MADE's hidden layers
    iaf_depth: int = bounded(2, ge=1)  # masked hidden layers per MADE
    iaf_context: int = bounded(32, ge=0)  # size of the encoder's context vector h fed to every step (0: none)
