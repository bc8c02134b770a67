"""Typed config of the GAN (``model.name=gan``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from lit_gen.bounds import bounded

from lit_gen.errors import UserError
from lit_gen.models.components.sizes import dcgan_stages

# strategies under which the GAN's explicit per-network gradient averaging is right
# (FSDP shards parameters, DeepSpeed owns the optimizer step: neither fits)
BAD_STRATEGY_WORDS = ("fsdp", "deepspeed", "xla")


@dataclass
class GANConfig:
    name: str = "gan"
    # fgan_<divergence>: f-GAN (fdivergences.py); the names are spelled out here so that this module needs no torch
    loss: Literal["minimax", "nonsaturating", "hinge", "wgan-gp", "fgan_kl", "fgan_reverse_kl", "fgan_js",
                  "fgan_pearson", "fgan_hellinger", "fgan_gan"] = "nonsaturating"
    # f-GAN's generator: alternative maximises E_G[g_f(V(x))], as the paper trains it; minimax minimises its bound F
    fgan_generator: Literal["alternative", "minimax"] = "alternative"
    net: Literal["dcgan", "mlp"] = "dcgan"  # dcgan (images) | mlp (vectors such as the toy densities)
    depth: int = bounded(3, ge=1)  # mlp: hidden layers of G and of D (widths g_width, d_width)
    latent_dim: int = bounded(100, ge=1)
    g_width: int = bounded(64, ge=1)  # DCGAN ngf: generator channels next to the image, doubled per stage towards z
    d_width: int = bounded(64, ge=1)  # DCGAN ndf: discriminator channels next to the image, doubled per stage
    # auto: dcgan batch (layer for wgan-gp), mlp none
    d_norm: Literal["auto", "batch", "layer", "instance", "none"] = "auto"
    n_critic: int = bounded(1, ge=1)  # discriminator steps (each on its own batch) per generator step
    gp_weight: float = bounded(10.0, ge=0)  # wgan-gp gradient penalty weight
    # gamma of the R1 penalty gamma/2 * E_real ||grad D(x)||^2 (Mescheder et al. 2018); 0 = off
    r1_weight: float = bounded(0.0, ge=0)
    # EMA of the generator's weights for sampling; 0 or null = off
    ema_decay: Optional[float] = bounded(None, ge=0, lt=1, note="(0 or null = off), e.g. 0.999")
    num_fixed_noise: int = bounded(64, ge=1)  # fixed z vectors, stored in checkpoints, for sample grids across epochs

    def resolved_d_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        if self.net == "mlp":  # small vector critics train best without a norm (and WGAN-GP needs none)
            return "none"
        return "layer" if self.loss == "wgan-gp" else "batch"

    def validate(self, cfg) -> None:
        if self.fgan_generator != "alternative" and not self.loss.startswith("fgan_"):
            raise UserError(f"model.fgan_generator={self.fgan_generator}: only the f-GAN losses (model.loss=fgan_...) "
                            f"have it; model.loss={self.loss} has its own generator loss")
        if self.net == "mlp" and self.d_norm == "instance":
            raise UserError("model.d_norm=instance: not available for model.net=mlp; use layer, batch or none")
        if self.loss == "wgan-gp" and self.d_norm == "batch":
            raise UserError("model.d_norm=batch: wgan-gp's gradient penalty is per sample and BatchNorm couples "
                            "the samples of a batch; use layer (the default for wgan-gp), instance or none")

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
