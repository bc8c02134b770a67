"""disCVAE, the layered Attribute2Image model (``model.name=discvae``).

Two latents: z_F ~ q(z_F | x*mask, y) (foreground) and z_B ~ q(z_B | x, y, z_F)
(background). The foreground decoder maps (z_F, y) to x_F (tanh) and a gate g
(sigmoid); the background decoder maps z_B alone to x_B (tanh). Composition:
``x_hat = x_F + g * x_B``. Loss (see :func:`lit_gen.models.cvae.losses.discvae_terms`):
SmoothL1(x_F, x*mask) + SmoothL1(x_hat, x) + KL(z_F) + KL(z_B) + gate_weight * BCE(g, 1 - mask),
with x scaled to [-1, 1] before masking.

The latent of the protocol is z = [z_F; z_B] (``latent_size = fg + bg``).
"""

from __future__ import annotations


import torch

from lit_gen.models.cvae import losses as L
from lit_gen.models.cvae.module import Attr2ImgBase
from lit_gen.models.cvae.nets import CondDecoder, CondEncoder
from lit_gen.models.vae.losses import gaussian_kl
from lit_gen.spec import DataSpec, to_model_range


class DisCVAE(Attr2ImgBase):
    needs = ("image", "mask")

    def __init__(self, model_cfg, optim_cfg, data: DataSpec):
        super().__init__(model_cfg, optim_cfg, data)
        c = self.model_cfg
        self.zf, self.zb = c.fg_latent_dim, c.bg_latent_dim
        self.latent_size = self.zf + self.zb
        C, S, W = data.channels, data.image_size, c.widths
        self.enc_f = CondEncoder(C, S, W, self.cond.dim, self.zf, c.feat_dim, c.y_hidden)
        self.enc_b = CondEncoder(C, S, W, self.cond.dim + self.zf, self.zb, c.feat_dim, c.y_hidden)
        self.dec_f = CondDecoder(self.zf, self.cond.dim, C, S, W, heads=(C, 1),  # x_F, gate logits
                                 hidden=tuple(c.dec_hidden))
        self.dec_b = CondDecoder(self.zb, 0, C, S, W, heads=(C,))  # x_B, does not see y

    # --- pieces ---------------------------------------------------------------------
    def encode(self, x01: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, sample: bool = True):
        """((mu_F, logvar_F, z_F), (mu_B, logvar_B, z_B)); ``sample=False`` uses the means."""
        x = to_model_range(x01)
        mu_f, lv_f = self.enc_f(x * mask, y)
        z_f = self.reparameterize(mu_f, lv_f, 1)[0] if sample else mu_f
        mu_b, lv_b = self.enc_b(x, torch.cat([y, z_f], 1))
        z_b = self.reparameterize(mu_b, lv_b, 1)[0] if sample else mu_b
        return (mu_f, lv_f, z_f), (mu_b, lv_b, z_b)

    def layers(self, z: torch.Tensor, y: torch.Tensor) -> dict:
        """x_F, gate logits, gate, x_B and x_hat (images in [-1, 1]) for z = [z_F; z_B]."""
        z_f, z_b = z[:, : self.zf], z[:, self.zf :]
        x_f, g_logits = self.dec_f(z_f, y)
        x_f, x_b = torch.tanh(x_f), torch.tanh(self.dec_b(z_b)[0])
        g = torch.sigmoid(g_logits)
        return {"x_f": x_f, "gate_logits": g_logits, "gate": g, "x_b": x_b, "x_hat": L.compose(x_f, g, x_b)}

    def decode_model(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.layers(z, y)["x_hat"]

    def posterior_mean(self, x01, y, mask=None):
        if mask is None:
            raise ValueError("discvae needs the foreground mask to encode an image")
        (mu_f, _, _), (mu_b, _, _) = self.encode(x01, y, mask, sample=False)
        return torch.cat([mu_f, mu_b], 1)

    def loss_terms(self, batch: dict) -> dict:
        x01, mask, y = batch["image"], batch["mask"].float(), self.y_of(batch)
        (mu_f, lv_f, z_f), (mu_b, lv_b, z_b) = self.encode(x01, y, mask)
        out = self.layers(torch.cat([z_f, z_b], 1), y)
        c = self.model_cfg
        return L.discvae_terms(out["x_f"], out["gate_logits"], out["x_b"], to_model_range(x01), mask,
                               gaussian_kl(mu_f, lv_f), gaussian_kl(mu_b, lv_b), c.gate_weight, c.beta,
                               c.beta_bg)

    def _log_gate_iou(self, batch, stage: str) -> None:
        iou = self.gate_iou(batch["image"], self.y_of(batch), batch["mask"].float())
        self.log(f"{stage}/gate_iou", iou.mean(), on_epoch=True, batch_size=len(iou), sync_dist=True)

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)
        self._log_gate_iou(batch, "val")

    def test_step(self, batch, batch_idx):
        super().test_step(batch, batch_idx)
        self._log_gate_iou(batch, "test")

    @torch.no_grad()
    def gate_iou(self, x01: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
        """Per-image IoU of (g > threshold) with the true background (1 - mask), from the posterior means."""
        z = self.posterior_mean(x01, y, mask)
        g = self.layers(z, y)["gate"] > threshold
        bg = mask < 0.5
        inter = (g & bg).flatten(1).sum(1).float()
        union = (g | bg).flatten(1).sum(1).float()
        return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
