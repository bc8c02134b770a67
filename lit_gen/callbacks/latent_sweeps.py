"""DC-IGN evaluation at validation: the disentanglement metrics, latent sweeps and inferred-vs-true scatter plots
of :mod:`lit_gen.latent_evaluation`, every ``every_n_epochs`` validation epochs (and at the last one).

On a fixed held-out set (the first ``num_eval`` validation items) it logs ``val/spearman_azimuth``,
``val/spearman_elevation``, ``val/spearman_light`` (|rho| of the assigned latent; the baseline's best single
latent), ``val/mig``, ``val/mig_extrinsic`` and, for ``scenes``, ``val/rerender_mse`` (+ ``_recon``,
``_unchanged``), and writes the pictures of :func:`lit_gen.latent_evaluation.write_pictures` to
``<run>/images/``. Data without factors: it does nothing.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L

from lit_gen.callbacks.images import log_image_to_loggers
from lit_gen.callbacks.schedule import epoch_due
from lit_gen.latent_evaluation import run_evaluation, scored_factors, write_pictures


class LatentSweepsCallback(L.Callback):
    def __init__(self, run_dir: str, datamodule, every_n_epochs: int = 1, num_eval: int = 1000, seed: int = 0,
                 factor_vae_votes: int = 90):
        self.dir = Path(run_dir) / "images"
        self.dm = datamodule
        self.every_n_epochs = every_n_epochs
        self.num_eval = num_eval
        self.seed = seed
        self.factor_vae_votes = factor_vae_votes

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        dm = trainer.datamodule or self.dm
        if trainer.sanity_checking or not epoch_due(trainer, self.every_n_epochs) or dm is None or not hasattr(pl_module, "encode"):
            return
        info = dm.info
        if "factors" not in info.keys or not scored_factors(info) or len(dm.splits.val) == 0:
            return
        # every rank computes the same numbers on the same held-out scenes: no collective needed
        res = run_evaluation(pl_module, dm.splits.val, dm.cfg, info, self.num_eval, self.seed, self.factor_vae_votes)
        for key, value in res["metrics"].items():
            pl_module.log(f"val/{key}", float(value), on_step=False, on_epoch=True, sync_dist=True)
        if trainer.is_global_zero:
            step = trainer.global_step
            write_pictures(pl_module, res, info.factor_names, self.dir,
                           log=lambda key, array: log_image_to_loggers(trainer, key, array, step))


def latent_sweep_callbacks(run_dir: str, cfg, datamodule) -> list:
    """The VAE family's disentanglement evaluation (DC-IGN, β-TCVAE, Ada-GVAE, the VAE), attached through the
    registry; it does nothing on data without factors."""
    if not cfg.metrics.disentanglement_items:
        return []
    return [LatentSweepsCallback(run_dir, datamodule, every_n_epochs=cfg.metrics.every_n_epochs,
                                 num_eval=cfg.metrics.disentanglement_items, seed=cfg.seed,
                                 factor_vae_votes=cfg.metrics.factor_vae_votes)]
