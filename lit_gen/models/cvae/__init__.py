"""Attribute2Image (Yan et al. 2016): the conditional VAE (``cvae``) and the layered disCVAE (``discvae``)."""

from lit_gen.models.cvae.config import CVAEConfig, DisCVAEConfig
from lit_gen.models.cvae.layered import DisCVAE
from lit_gen.models.cvae.module import CVAE

__all__ = ["CVAE", "CVAEConfig", "DisCVAE", "DisCVAEConfig"]
