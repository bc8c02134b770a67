"""Ada-GVAE (Locatello et al. 2020): weakly supervised disentanglement from pairs that share some factors."""

from lit_gen.models import lazy_exports
from lit_gen.models.adagvae.config import AdaGVAEConfig

__getattr__ = lazy_exports(__name__, {"AdaGVAE": "lit_gen.models.adagvae.module"})
__all__ = ["AdaGVAEConfig", "AdaGVAE"]
