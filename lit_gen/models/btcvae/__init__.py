"""β-TCVAE (Chen et al. 2018): the VAE with its KL split into index-code MI, total correlation and dimension-wise KL."""

from lit_gen.models import lazy_exports
from lit_gen.models.btcvae.config import BetaTCVAEConfig

__getattr__ = lazy_exports(__name__, {"BetaTCVAE": "lit_gen.models.btcvae.module"})
__all__ = ["BetaTCVAEConfig", "BetaTCVAE"]
