from lit_gen.models.dcign.clamp import ClampLatents, clamp_latents
from lit_gen.models.dcign.config import DCIGNConfig
from lit_gen.models.dcign.module import DCIGN

__all__ = ["DCIGN", "DCIGNConfig", "ClampLatents", "clamp_latents"]
