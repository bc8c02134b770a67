"""The sequential VAE of Zhao, Song & Ermon (2017): a chain of VAE steps, each refining the previous step's output."""

from lit_gen.models import lazy_exports
from lit_gen.models.seqvae.config import SeqVAEConfig

__getattr__ = lazy_exports(__name__, {"SeqVAE": "lit_gen.models.seqvae.module"})
__all__ = ["SeqVAEConfig", "SeqVAE"]
