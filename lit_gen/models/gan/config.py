"""Typed config of the GAN (``model.name=gan``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lit_gen.errors import UserError

LOSS_NAMES = ("minimax", "nonsaturating", "hinge", "wgan-gp")
D_NORMS = ("auto", "batch", "layer", "instance", "none")
NETS = ("dcgan", "mlp")
# strategies under which the GAN's explicit per-network gradient averaging is right
# (FSDP shards parameters, DeepSpeed owns the optimizer step: neither fits)
BAD_STRATEGY_WORDS = ("fsdp", "deepspeed", "xla")


@dataclass
class GANConfig:
    name: str = "gan"
    loss: str = "nonsaturating"  # minimax | nonsaturating | hinge | wgan-gp
    net: str = "dcgan"  # dcgan (images) | mlp (vectors such as the toy densities, or flattened images)
    depth: int = 3  # mlp: hidden layers of G and of D (widths g_width, d_width)
    latent_dim: int = 100
    g_width: int = 64  # DCGAN ngf: generator channels next to the image, doubled per stage towards z
    d_width: int = 64  # DCGAN ndf: discriminator channels next to the image, doubled per stage
    d_norm: str = "auto"  # auto (dcgan: batch, layer for wgan-gp; mlp: none) | batch | layer | instance | none
    n_critic: int = 1  # discriminator steps (each on its own batch) per generator step
    gp_weight: float = 10.0  # wgan-gp gradient penalty weight
    r1_weight: float = 0.0  # gamma of the R1 penalty gamma/2 * E_real ||grad D(x)||^2 (Mescheder et al. 2018); 0 = off
    ema_decay: Optional[float] = None  # EMA of the generator's weights for sampling; 0 or null = off
    num_fixed_noise: int = 64  # fixed z vectors, stored in checkpoints, for sample grids across epochs

    def resolved_d_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        if self.net == "mlp":  # small vector critics train best without a norm (and WGAN-GP needs none)
            return "none"
        return "layer" if self.loss == "wgan-gp" else "batch"

    def validate(self, cfg) -> None:
        if self.loss not in LOSS_NAMES:
            raise UserError(f"model.loss={self.loss!r}: choose one of {', '.join(LOSS_NAMES)}")
        if self.net not in NETS:
            raise UserError(f"model.net={self.net!r}: choose one of {', '.join(NETS)}")
        if self.d_norm not in D_NORMS:
            raise UserError(f"model.d_norm={self.d_norm!r}: choose one of {', '.join(D_NORMS)}")
        if self.net == "mlp" and self.d_norm == "instance":
            raise UserError("model.d_norm=instance: not available for model.net=mlp; use layer, batch or none")
        if self.depth < 1:
            raise UserError(f"model.depth={self.depth}: must be >= 1")
        if self.loss == "wgan-gp" and self.d_norm == "batch":
            raise UserError("model.d_norm=batch: wgan-gp's gradient penalty is per sample and BatchNorm couples "
                            "the samples of a batch; use layer (the default for wgan-gp), instance or none")
        if self.latent_dim < 1:
            raise UserError(f"model.latent_dim={self.latent_dim}: must be >= 1")
        if self.g_width < 1:
            raise UserError(f"model.g_width={self.g_width}: must be >= 1")
        if self.d_width < 1:
            raise UserError(f"model.d_width={self.d_width}: must be >= 1")
        if self.n_critic < 1:
            raise UserError(f"model.n_critic={self.n_critic}: must be >= 1")
        if self.gp_weight < 0:
            raise UserError(f"model.gp_weight={self.gp_weight}: must be >= 0")
        if self.r1_weight < 0:
            raise UserError(f"model.r1_weight={self.r1_weight}: must be >= 0")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"model.ema_decay={self.ema_decay}: must be in [0, 1) (0 or null = off), e.g. 0.999")
        if self.num_fixed_noise < 1:
            raise UserError(f"model.num_fixed_noise={self.num_fixed_noise}: must be >= 1")

        from lit_gen.models.components.dcgan import dcgan_stages

        size = cfg.data.image_size
        try:
            if self.net == "dcgan":
                dcgan_stages(size)
        except ValueError:
            hint = " (MNIST-like data are resized on load: set data.image_size=32)" if size == 28 else ""
            raise UserError(f"data.image_size={size}: the DCGAN nets need 32 or 64 "
                            f"(a power of two >= 16){hint}") from None

        t = cfg.trainer
        if t.get("gradient_clip_val") is not None:
            raise UserError(f"trainer.gradient_clip_val={t.gradient_clip_val}: not supported by the GAN's manual "
                            "optimization; leave it unset")
        if t.get("accumulate_grad_batches", 1) != 1:
            raise UserError(f"trainer.accumulate_grad_batches={t.accumulate_grad_batches}: not supported by the GAN's "
                            "manual optimization; use a larger data.batch_size")
        strategy = str(t.get("strategy", "auto"))
        if any(w in strategy.lower() for w in BAD_STRATEGY_WORDS):
            raise UserError(f"trainer.strategy={strategy}: the GAN supports auto and the ddp strategies "
                            "(ddp, ddp_spawn, ...)")
