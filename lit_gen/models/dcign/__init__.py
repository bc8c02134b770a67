"""DC-IGN, the deep convolutional inverse graphics network (Kulkarni et al. 2015)."""

from lit_gen.models import lazy_exports
from lit_gen.models.dcign.config import DCIGNConfig

__getattr__ = lazy_exports(__name__, {"DCIGN": "lit_gen.models.dcign.module", "ClampLatents": "lit_gen.models.dcign.clamp", "clamp_latents": "lit_gen.models.dcign.clamp"})
__all__ = ["DCIGNConfig", "DCIGN", "ClampLatents", "clamp_latents"]
