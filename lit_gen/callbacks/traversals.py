"""Latent traversals for every VAE-family model: one grid per run, at each due validation and at the end of fit.

A few held-out items are encoded (posterior means); each latent in turn is swept over ±3 prior standard
deviations (the prior is N(0, I), so from -3 to 3) while the item's other latents stay fixed, and decoded.
Row d of ``<run>/images/traversals.png`` is latent d; its columns are the sweep for the first item, a blank tile,
the sweep for the second, and so on. Data need no factors (MNIST works). With more than ``max_latents`` latents only the ones whose
posterior means vary most across 64 held-out items are drawn (in index order).

The model provides ``traversal_code(batch) -> (mu (n, D), decode)``, ``decode(z (n, S, D)) -> (n, S, C, H, W)``
images in [0, 1] (the VAE family: VAE, DC-IGN, β-TCVAE, Ada-GVAE, CVAE, disCVAE); other models are skipped.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from lit_gen.image_grid import make_grid, save_png
from lit_gen.callbacks.images import log_image_to_loggers
from lit_gen.callbacks.schedule import PeriodicPictures
from lit_gen.storage import copy_atomic


@torch.no_grad()
def traversal_grid(model, batch: dict, codes: int = 3, steps: int = 9, span: float = 3.0,
                   max_latents: int = 32) -> tuple[torch.Tensor, list, int]:
    """(images, the latents drawn, images per row) for the first ``codes`` items of ``batch``: per latent one row of
    ``steps`` decodes per item, the items' sweeps separated by a blank (white) tile."""
    mu, decode = model.traversal_code(batch)
    mu = mu.float()
    latents = list(range(mu.shape[1]))
    if len(latents) > max_latents:
        latents = sorted(torch.argsort(mu.var(0), descending=True)[:max_latents].tolist())
    n = min(codes, len(mu))
    values = torch.linspace(-span, span, steps, device=mu.device)
    rows = []
    for d in latents:
        z = mu[:n].unsqueeze(1).repeat(1, steps, 1)  # (n, steps, D)
        z[:, :, d] = values
        out = decode(z).cpu()  # (n, steps, C, H, W)
        blank = torch.ones(1, *out.shape[2:])
        for i in range(n):
            rows += [out[i]] + ([blank] if i < n - 1 else [])
    return torch.cat(rows), latents, n * steps + n - 1


class TraversalCallback(PeriodicPictures):
    def __init__(self, run_dir: str, every_n_epochs: int = 1, codes: int = 3, steps: int = 9):
        super().__init__(every_n_epochs)
        self.dir = Path(run_dir) / "images"
        self.codes, self.steps = codes, steps
        self._batch = None

    @rank_zero_only
    def write(self, trainer: L.Trainer, pl_module, tag: str):
        dm = trainer.datamodule
        if dm is None or len(dm.splits.val) == 0:
            return None
        if self._batch is None:
            self._batch = dm.fixed_batch(64, "val")
        batch = {k: v.to(pl_module.device) if isinstance(v, torch.Tensor) else v for k, v in self._batch.items()}
        was_training = pl_module.training
        pl_module.eval()
        try:
            images, _, nrow = traversal_grid(pl_module, batch, self.codes, self.steps)
        finally:
            pl_module.train(was_training)
        grid = make_grid(images, nrow=nrow)
        path = save_png(grid, self.dir / f"traversals_{tag}.png", scale=2)
        copy_atomic(path, self.dir / "traversals.png")  # the latest, at a stable path
        log_image_to_loggers(trainer, "images/traversals", grid, trainer.global_step)
        return path
