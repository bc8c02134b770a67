"""disCVAE loss terms and the layer composition, as pure functions (the KL is the VAE's ``gaussian_kl``).

Images are in the models' value range [-1, 1]; masks are {0, 1} with 1 on the object.
Every term is one value per image, summed over pixels (like the VAE's terms).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lit_gen.spec import to_model_range


def masked_foreground(x01: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The foreground target: scale to [-1, 1] FIRST, then mask, so background pixels are exactly 0.

    (The original code masked before rescaling, which leaves the background at -1.)
    """
    return to_model_range(x01) * mask


def compose(x_f: torch.Tensor, gate: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
    """x_hat = x_F + g * x_B (the authors' code; equals x_F*(1-g) + g*x_B when x_F is already masked)."""
    return x_f + gate * x_b


def _per_image(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(start_dim=1).sum(1)


def smooth_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _per_image(F.smooth_l1_loss(pred, target, reduction="none"))


def gate_loss(gate_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BCE(g, 1 - mask): the gate is trained to be 1 on the BACKGROUND (where x_B shows through)."""
    return _per_image(F.binary_cross_entropy_with_logits(gate_logits, 1.0 - mask, reduction="none"))


def discvae_terms(x_f, gate_logits, x_b, x, mask, kl_f, kl_b, gate_weight: float = 0.3, beta: float = 1.0,
                  beta_bg: float | None = None) -> dict:
    """SmoothL1(x_F, x*mask) + SmoothL1(x_hat, x) + beta*KL_F + beta_bg*KL_B + gate_weight * BCE(g, 1 - mask).

    ``x`` is in [-1, 1]; ``x_f``, ``x_b`` too; ``gate_logits`` pre-sigmoid; ``beta_bg=None`` means ``beta``.
    """
    x_hat = compose(x_f, torch.sigmoid(gate_logits), x_b)
    fg = smooth_l1(x_f, x * mask)
    comp = smooth_l1(x_hat, x)
    gl = gate_loss(gate_logits, mask)
    loss = fg + comp + beta * kl_f + (beta if beta_bg is None else beta_bg) * kl_b + gate_weight * gl
    return {"fg": fg, "composite": comp, "kl_f": kl_f, "kl_b": kl_b, "gate": gl, "loss": loss}
