"""The PixelVAE (Gulrajani et al. 2017): the VAE with an autoregressive PixelCNN decoder conditioned on z."""

from lit_gen.models import lazy_exports
from lit_gen.models.pixelvae.config import PixelVAEConfig

__getattr__ = lazy_exports(__name__, {"PixelVAE": "lit_gen.models.pixelvae.module"})
__all__ = ["PixelVAEConfig", "PixelVAE"]
