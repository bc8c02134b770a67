"""Attribute2Image pictures (cvae, discvae), every ``metrics.every_n_epochs`` and at the last epoch.

Into ``<run>/images/`` (and to every logger that shows images):

- ``attr_<group>.png``: conditional sampling, one row per value of a discrete attribute group
  (scenes: shape, colour; MNIST: the digit label); along each column z and the other
  attributes are held fixed, so a row changes only that attribute.
- ``attr_recon.png``: held-out images (odd rows) and their reconstructions given their y.
- discvae only: ``layers.png`` (rows: image, x_F, gate g, x_B, x_hat = x_F + g*x_B),
  ``bg_swap.png`` (row i: image i, then image i's foreground (z_F, y) over the backgrounds
  z_B of images 1..n) and ``fg_swap.png`` (row j: image j, then the foregrounds of images
  1..n over image j's background). The first row of a swap grid shows the donors.
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


def conditional_grids(model, n_cols: int = 8, seed: int = 0) -> dict:
    """{group: (values * n_cols, C, H, W) images in [0, 1]}: row v = attribute value v, z fixed per column."""
    g = torch.Generator().manual_seed(seed)
    y_base = model.cond.prior(n_cols, g)
    z = model.prior_z(n_cols, g)
    out = {}
    for group, (lo, hi) in model.cond.groups.items():
        rows = [model.generate(z, model.cond.set_value(y_base, group, v)) for v in range(hi - lo)]
        out[group] = torch.cat(rows)
    return out


@torch.no_grad()
def swap_grids(model, x01: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> dict:
    """disCVAE: {'layers', 'bg_swap', 'fg_swap'} image tensors in [0, 1] (see the module doc)."""
    from lit_gen.spec import to_unit_range

    dev = model.device
    x01, y, mask = x01.to(dev), y.to(dev), mask.to(dev)
    n = len(x01)
    z = model.posterior_mean(x01, y, mask)
    lay = model.layers(z, y)
    gate = lay["gate"].expand_as(x01)
    layers = torch.cat([x01, to_unit_range(lay["x_f"]), gate, to_unit_range(lay["x_b"]), to_unit_range(lay["x_hat"])])
    zf, zb = z[:, : model.zf], z[:, model.zf :]
    # cell (i, j): foreground (z_F, y) of image i over background z_B of image j
    zz = torch.cat([zf.repeat_interleave(n, 0), zb.repeat(n, 1)], 1)
    cells = model.generate(zz, y.repeat_interleave(n, 0)).view(n, n, *x01.shape[1:])
    blank = torch.ones_like(x01[:1])
    bg = [torch.cat([blank, x01])] + [torch.cat([x01[i : i + 1], cells[i]]) for i in range(n)]
    fg = [torch.cat([blank, x01])] + [torch.cat([x01[j : j + 1], cells[:, j]]) for j in range(n)]
    return {"layers": layers, "bg_swap": torch.cat(bg), "fg_swap": torch.cat(fg)}


class AttributeGridsCallback(PeriodicPictures):
    def __init__(self, run_dir: str, every_n_epochs: int = 1, n_cols: int = 8, seed: int = 0):
        super().__init__(every_n_epochs)
        self.dir = Path(run_dir) / "images"
        self.n_cols, self.seed = n_cols, seed
        self._real = None

    @rank_zero_only
    def write(self, trainer: L.Trainer, pl_module, tag: str) -> list:
        was_training = pl_module.training
        pl_module.eval()
        paths = []
        try:
            for group, imgs in conditional_grids(pl_module, self.n_cols, self.seed).items():
                paths.append(self._emit(trainer, f"attr_{group}", imgs, tag, self.n_cols))
            if self._real is None and trainer.datamodule is not None:
                self._real = trainer.datamodule.fixed_batch(self.n_cols)
            if self._real is not None:
                b = self._real
                y = pl_module.cond.from_batch(b)
                mask = b["mask"].float() if "mask" in b else None
                if hasattr(pl_module, "layers") and mask is not None:
                    for name, imgs in swap_grids(pl_module, b["image"], y, mask).items():
                        nrow = self.n_cols + 1 if name != "layers" else self.n_cols
                        paths.append(self._emit(trainer, name, imgs, tag, nrow))
                rec = pl_module.reconstruct(b["image"], y, mask)
                paths.append(self._emit(trainer, "attr_recon", torch.cat([b["image"], rec.cpu()]), tag, self.n_cols))
        finally:
            pl_module.train(was_training)
        return paths

    def _emit(self, trainer, name: str, images: torch.Tensor, tag: str, nrow: int) -> Path:
        grid = make_grid(images.cpu(), nrow=nrow)
        path = save_png(grid, self.dir / f"{name}_{tag}.png", scale=2)
        copy_atomic(path, self.dir / f"{name}.png")
        log_image_to_loggers(trainer, f"images/{name}", grid, trainer.global_step)
        return self.dir / f"{name}.png"


def attribute_grid_callbacks(run_dir: str, cfg, datamodule) -> list:
    """Attribute2Image's conditional and swap grids, attached through the registry."""
    return [AttributeGridsCallback(run_dir, cfg.metrics.every_n_epochs, seed=cfg.seed)]
