from lit_gen.models.gan.config import GANConfig
from lit_gen.models.gan.module import GAN

__all__ = ["GAN", "GANConfig"]
