"""The GAN (Goodfellow et al. 2014) on DCGAN or MLP nets."""

from lit_gen.models import lazy_exports
from lit_gen.models.gan.config import GANConfig

__getattr__ = lazy_exports(__name__, {"GAN": "lit_gen.models.gan.module"})
__all__ = ["GANConfig", "GAN"]
