from lit_gen.models.vae.config import VAEConfig
from lit_gen.models.vae.module import VAE

__all__ = ["VAE", "VAEConfig"]
