"""The VAE with an inverse-autoregressive-flow posterior (Kingma et al. 2016)."""

from lit_gen.models import lazy_exports
from lit_gen.models.vae_iaf.config import VAEIAFConfig

__getattr__ = lazy_exports(__name__, {"VAEIAF": "lit_gen.models.vae_iaf.module"})
__all__ = ["VAEIAFConfig", "VAEIAF"]
