"""DC-IGN's latent clamping as a custom autograd function.

Forward: every latent outside the batch's active group is replaced by a
reference shared by the whole batch: its batch mean (the paper) or its value
in sample 0 (the authors' Torch7 code).

Backward: the active latents get their normal gradient. Each clamped latent
gets, IN PLACE of its gradient, ``strength * (z_i - mean_batch z_i)``: a
pull towards the batch mean (gradient descent moves z_i towards the mean),
i.e. towards invariance within a batch where that latent's factor does not
change. ``strength = 0`` is the authors' default (a zero gradient). The push
is towards the batch mean for both references (the paper's wording); the
true derivative of the clamped output is ignored, as in the paper.

The batch is dimension -2: z may be (N, D) or (L, N, D) (L Monte-Carlo
samples, each clamped over its own batch).
"""

from __future__ import annotations

import torch


class ClampLatents(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, active: torch.Tensor, reference: str = "mean", strength: float = 0.01):
        """``active``: (D,) bool, True for the latents of the varied group."""
        if reference not in ("mean", "first"):
            raise ValueError(f"reference must be 'mean' or 'first', got {reference!r}")
        active = active.to(device=z.device, dtype=torch.bool)
        ref = z.mean(dim=-2, keepdim=True) if reference == "mean" else z.narrow(-2, 0, 1)
        out = torch.where(active, z, ref.expand_as(z))
        ctx.save_for_backward(z, active)
        ctx.strength = float(strength)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        z, active = ctx.saved_tensors
        grad_z = None
        if ctx.needs_input_grad[0]:
            push = ctx.strength * (z - z.mean(dim=-2, keepdim=True))
            grad_z = torch.where(active, grad_out, push.to(grad_out.dtype))
        return grad_z, None, None, None


def clamp_latents(z: torch.Tensor, active: torch.Tensor, reference: str = "mean", strength: float = 0.01) -> torch.Tensor:
    """Functional form of :class:`ClampLatents`."""
    return ClampLatents.apply(z, active, reference, strength)
