"""Sample and reconstruction grids, every validation epoch, for any lit_gen model.

Logger-agnostic: PNGs always go to ``<run>/images/``; each logger that can show
images gets them too (W&B through ``log_image``, TensorBoard through
``add_image``). Uses only the generative protocol (``sample``, ``reconstruct``).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from lit_gen.image_grid import make_grid, save_png
from lit_gen.callbacks.schedule import PeriodicPictures
from lit_gen.storage import copy_atomic


def log_image_to_loggers(trainer: L.Trainer, key: str, array, step: int) -> None:
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):  # WandbLogger
            logger.log_image(key=key, images=[array], step=step)
        elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
            logger.experiment.add_image(key, array, step, dataformats="HWC")
        elif hasattr(logger, "run_id") and hasattr(getattr(logger, "experiment", None), "log_image"):  # MLflow
            logger.experiment.log_image(logger.run_id, array, f"{key}/step{step:06d}.png")


class ImageGridCallback(PeriodicPictures):
    def __init__(self, run_dir: str, every_n_epochs: int = 1, num_images: int = 64, seed: int = 0, draws: bool = True):
        super().__init__(every_n_epochs)
        self.draws = draws
        self.dir = Path(run_dir) / "images"
        self.num_images = num_images
        self.seed = seed
        self._real = None

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module) -> None:
        """The real training images beside the samples, once per run: the comparison report reads them from here."""
        if trainer.datamodule is not None and not (self.dir / "real.png").is_file():
            real = trainer.datamodule.fixed_batch(self.num_images, "train")["image"]
            save_png(make_grid(real), self.dir / "real.png", scale=2)

    @rank_zero_only
    def write(self, trainer: L.Trainer, pl_module, tag: str) -> None:
        was_training = pl_module.training
        pl_module.eval()
        try:
            # a fresh generator with the same seed: the same z every epoch, so grids compare across epochs
            g = torch.Generator().manual_seed(self.seed)
            fixed = getattr(pl_module, "fixed_samples", None)  # a model may keep its own fixed noise (the GAN does)
            samples = fixed(self.num_images) if callable(fixed) else pl_module.sample(self.num_images, generator=g)
            self._emit(trainer, "samples", samples, tag)
            draw = getattr(pl_module, "sample_draw", None)
            if self.draws and callable(draw) and not callable(fixed):  # the same z, drawn from p(x|z)
                self._emit(trainer, "samples_draw", draw(self.num_images, generator=torch.Generator().manual_seed(
                    self.seed)), tag)
            if self._real is None and trainer.datamodule is not None:
                n = min(self.num_images // 2, 32)
                self._real = trainer.datamodule.fixed_batch(n)["image"]
            if self._real is not None:
                recon = pl_module.reconstruct(self._real)
                if recon is not None:
                    # pairs: real images on odd rows, their reconstructions on the rows below
                    real, rec = self._real.cpu(), recon.cpu()
                    nrow = 8
                    rows = []
                    for i in range(0, len(real), nrow):
                        rows += [real[i : i + nrow], rec[i : i + nrow]]
                    self._emit(trainer, "reconstructions", torch.cat(rows), tag, nrow=nrow)
        finally:
            pl_module.train(was_training)

    def _emit(self, trainer, name: str, images: torch.Tensor, tag: str, nrow=None) -> None:
        grid = make_grid(images, nrow=nrow)
        path = save_png(grid, self.dir / f"{name}_{tag}.png", scale=2)
        copy_atomic(path, self.dir / f"{name}.png")  # the latest, at a stable path
        log_image_to_loggers(trainer, f"images/{name}", grid, trainer.global_step)
