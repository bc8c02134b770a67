"""Importance-weighted negative log-likelihood (Burda et al. 2015), for models with ``log_likelihood``.

``NLL_k = -mean_x log (1/k) sum_i p(x, z_i) / q(z_i | x)``, z_i ~ q(z|x), in nats
per image. For k = 1 its expectation is the negative ELBO; it decreases
monotonically in expectation as k grows, so ``NLL_k <= -ELBO`` (a tighter upper
bound on the true NLL). Report k with the number (``k = 5000`` for final
numbers, as in the IWAE paper).

Memory: the model decodes ``chunk`` latent samples for each of ``sub`` images at
a time, with ``chunk * sub <= budget`` (``metrics.nll_batch``, decoded images per
forward pass), so k = 5000 on the 10k MNIST test set runs in bounded memory.
Under DDP each rank takes every ``world``-th test image; the sum and count are
reduced across ranks (a torchmetrics ``MeanMetric``), so every rank must call it.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torchmetrics.aggregation import MeanMetric

from lit_gen.metrics.tqdm_bar import progress_bar
from lit_gen.metrics.fp32 import full_precision


def supports_likelihood(model) -> bool:
    return callable(getattr(model, "log_likelihood", None))


def plan(k: int, budget: int) -> tuple[int, int]:
    """(chunk of importance samples per pass, images per pass) with chunk * images <= budget."""
    chunk = max(1, min(k, budget))
    return chunk, max(1, budget // chunk)


@torch.no_grad()
def iw_log_likelihood(model, images: torch.Tensor, k: int, budget: int = 1024) -> torch.Tensor:
    """Per-image importance-weighted log p(x) (nats), ``images`` (N, C, H, W) processed in bounded passes."""
    chunk, sub = plan(k, budget)
    out = [model.log_likelihood(images[s : s + sub], k=k, chunk=chunk) for s in range(0, len(images), sub)]
    return torch.cat(out) if out else images.new_zeros(0)


@torch.no_grad()
@full_precision()
def iw_nll(model, dataset, k: int, *, prefix: str = "test", budget: int = 1024, seed: int = 0, rank: int = 0,
           world: int = 1, max_items: Optional[int] = None, progress: bool = True, batch_size: int = 100) -> dict:
    """Mean importance-weighted NLL over ``dataset`` (``{"image"}`` items), as ``{prefix}/nll`` etc."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    n_total = len(dataset) if max_items is None else min(max_items, len(dataset))
    indices = list(range(rank, n_total, world))
    mean = MeanMetric().set_dtype(torch.float64).to(device)
    was_training = model.training
    model.eval()
    bar = progress_bar(len(indices), f"{prefix} IW-NLL (k={k})", progress and rank == 0, unit="img", delay=2.0)
    try:
        cuda = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed + rank)
            for start in range(0, len(indices), batch_size):
                x = torch.stack([dataset[i]["image"] for i in indices[start : start + batch_size]]).to(device)
                ll = iw_log_likelihood(model, x, k, budget)
                mean.update(-ll.double())
                bar.update(len(x))
        bar.close()
        nll = float(mean.compute())  # all ranks: the sum and weight are all-reduced here
    finally:
        model.train(was_training)
    pixels = math.prod(dataset[0]["image"].shape) if n_total else 1
    return {f"{prefix}/nll": nll, f"{prefix}/nll_bpd": nll / (pixels * math.log(2)), f"{prefix}/nll_k": k,
            f"{prefix}/nll_n": n_total}
