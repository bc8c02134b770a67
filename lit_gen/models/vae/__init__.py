"""The VAE (Kingma & Welling 2014)."""

from lit_gen.models import lazy_exports
from lit_gen.models.vae.config import VAEConfig

__getattr__ = lazy_exports(__name__, {"VAE": "lit_gen.models.vae.module"})
__all__ = ["VAEConfig", "VAE"]
