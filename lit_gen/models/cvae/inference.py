"""Latent inference by optimization, for image completion (Attribute2Image §4; the form is our choice).

Given an image x (in [0, 1]), its attributes y and a mask M of KNOWN pixels (1 = observed,
0 = missing), find

    z* = argmin_z  ||M * (x - x_hat(y, z))||^2 + lam * ||z||^2

with Adam (x and x_hat in the model's range [-1, 1]), then fill the missing region with
x_hat(y, z*). The baseline encodes the corrupted image (missing pixels set to mid-grey)
with the model's encoder and decodes the posterior mean. Works for any model with
``posterior_mean(x, y, mask)``, ``decode_model(z, y)``, ``latent_size`` (cvae, discvae;
discvae's encoder also takes the true foreground mask).
"""

from __future__ import annotations

from typing import Optional

import torch

from lit_gen.spec import to_model_range, to_unit_range


def square_holes(n: int, size: int, hole: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(n, 1, size, size) masks of KNOWN pixels: 1 everywhere but one ``hole`` x ``hole`` square
    per image, placed uniformly so that it lies within the central half (it covers part of the object)."""
    lo, hi = size // 4 - hole // 4, size - size // 4 - hole + hole // 4
    lo, hi = max(0, lo), max(max(0, lo), min(size - hole, hi))
    top = torch.randint(lo, hi + 1, (n,), generator=generator)
    left = torch.randint(lo, hi + 1, (n,), generator=generator)
    m = torch.ones(n, 1, size, size)
    for i in range(n):
        m[i, :, top[i] : top[i] + hole, left[i] : left[i] + hole] = 0.0
    return m


def corrupt(x01: torch.Tensor, known: torch.Tensor, fill: float = 0.5) -> torch.Tensor:
    return x01 * known + fill * (1 - known)


@torch.no_grad()
def encoder_completion(model, x01, y, known, fg_mask=None) -> torch.Tensor:
    """The baseline: encode the corrupted image, decode the posterior mean; (N, C, H, W) in [0, 1]."""
    z = model.posterior_mean(corrupt(x01, known), y, None if fg_mask is None else fg_mask * known)
    return to_unit_range(model.decode_model(z, y))


def optimize_latents(model, x01, y, known, steps: int = 200, lr: float = 0.05, lam: float = 1e-3,
                     z0: Optional[torch.Tensor] = None) -> torch.Tensor:
    """z* of min_z ||M*(x - x_hat(y,z))||^2 + lam*||z||^2 (per image, summed), by Adam from ``z0`` (default 0)."""
    x = to_model_range(x01)
    z = (torch.zeros(len(x), model.latent_size, device=x.device) if z0 is None else z0.detach().clone()).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    req = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            x_hat = model.decode_model(z, y)
            loss = ((known * (x - x_hat)) ** 2).flatten(1).sum(1) + lam * z.pow(2).sum(1)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
    finally:
        for p, r in zip(model.parameters(), req):
            p.requires_grad_(r)
    return z.detach()


def complete(model, x01, y, known, fg_mask=None, steps: int = 200, lr: float = 0.05, lam: float = 1e-3,
             init: str = "zero") -> dict:
    """{'optimized', 'encoder'}: filled images in [0, 1] (known pixels are copied from x)."""
    model.eval()
    enc = encoder_completion(model, x01, y, known, fg_mask)
    z0 = None
    if init == "encoder":
        with torch.no_grad():
            z0 = model.posterior_mean(corrupt(x01, known), y, None if fg_mask is None else fg_mask * known)
    z = optimize_latents(model, x01, y, known, steps, lr, lam, z0)
    with torch.no_grad():
        opt = to_unit_range(model.decode_model(z, y))
    return {"optimized": x01 * known + opt * (1 - known), "encoder": x01 * known + enc * (1 - known)}


def missing_mse(filled: torch.Tensor, x01: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error over the missing pixels (all channels), in [0, 1] units."""
    miss = (1 - known).expand_as(x01)
    return ((filled - x01) ** 2 * miss).flatten(1).sum(1) / miss.flatten(1).sum(1).clamp(min=1)
