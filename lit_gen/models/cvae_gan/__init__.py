"""CVAE-GAN (Bao et al. 2017): the Attribute2Image CVAE with a critic (attribute classifier and discriminator) and an
optional latent adversary, trained on the GAN's alternating, DDP-safe path."""

from lit_gen.models import lazy_exports
from lit_gen.models.cvae_gan.config import CVAEGANConfig

__getattr__ = lazy_exports(__name__, {"CVAEGAN": "lit_gen.models.cvae_gan.module"})
__all__ = ["CVAEGANConfig", "CVAEGAN"]
