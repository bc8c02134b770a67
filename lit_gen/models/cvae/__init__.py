"""Attribute2Image (Yan et al. 2016): the conditional VAE (``cvae``) and the layered disCVAE (``discvae``)."""

from lit_gen.models import lazy_exports
from lit_gen.models.cvae.config import CVAEConfig, DisCVAEConfig

__getattr__ = lazy_exports(__name__, {"CVAE": "lit_gen.models.cvae.module", "DisCVAE": "lit_gen.models.cvae.layered"})
__all__ = ["CVAEConfig", "DisCVAEConfig", "CVAE", "DisCVAE"]
