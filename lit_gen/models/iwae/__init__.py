"""IWAE (Burda, Grosse & Salakhutdinov 2016): the VAE trained on the k-sample importance-weighted bound."""

from lit_gen.models import lazy_exports
from lit_gen.models.iwae.config import IWAEConfig

__getattr__ = lazy_exports(__name__, {"IWAE": "lit_gen.models.iwae.module"})
__all__ = ["IWAEConfig", "IWAE"]
