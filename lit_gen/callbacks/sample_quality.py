"""FID / IS / KID / precision-recall / blur every ``metrics.every_n_epochs`` validation epochs; at the end of
fit the same panel and the IW-NLL on the test split.

One callback for every model: it talks to the model only through the
generative protocol (``sample``, ``reconstruct``) and, where the model has it,
``log_likelihood``. Logged keys (see ``lit_gen.metrics.sample_quality``):
``val/fid_domain`` (+ ``_n``, ``_n_real``), ``val/is_domain``, ``val/kid_domain``,
``val/blur``, ``val/blur_real``, ``val/blur_ratio``, ``val/blur_recon``,
``val/blur_ratio_recon``, ``val/precision_domain``, ``val/recall_domain``, ``val/density_domain``,
``val/coverage_domain``; in the test phase after fit the same panel against the test split (``test/...``)
and ``test/nll`` (nats, with ``test/nll_k`` and ``test/nll_n``) for models with a likelihood.

Real statistics come from a fixed random subset of the training split
(``N = min(metrics.num_samples, len(train))``), computed once per run. DDP:
every rank works on its shard and every rank calls compute (torchmetrics
all-gathers there; compute on rank 0 only would hang, torchmetrics #2684);
only rank 0 prints.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from lit_gen.metrics.features import build_extractor
from lit_gen.metrics.likelihood import iw_nll, supports_likelihood
from lit_gen.metrics.sample_quality import SampleQuality, measure
from lit_gen.callbacks.schedule import epoch_due


def _say(msg: str) -> None:
    if rank_zero_only.rank == 0:
        print(f"lit_gen: {msg}", flush=True)


class SampleQualityCallback(L.Callback):
    def __init__(self, cfg, datamodule=None, echo=_say):
        """Resolves the feature extractor now, training the domain net the first time it is missing.

        ``datamodule`` (already set up) avoids building the data a second time.
        """
        m = cfg.metrics
        self.every_n_epochs = int(m.every_n_epochs)
        self.num_samples = int(m.num_samples)
        self.draws = bool(m.draws)
        self.nll_k = int(m.nll_k)
        self.nll_batch = int(m.nll_batch)
        self.seed = int(cfg.seed)
        self.metrics_cfg = m
        self.data_cfg = cfg.data
        self.echo = echo
        splits = datamodule.splits if datamodule is not None else None
        self.extractor = None
        if m.features == "domain" and splits is not None and ("label" not in splits.info.keys or not splits.info.num_classes):
            echo(f"metrics: data.name={cfg.data.name} has no class labels for the domain feature network, so "
                 f"FID/IS/KID are skipped (blur is still measured); metrics.features=inception measures them")
        else:
            self.extractor = build_extractor(m, cfg.data, splits=splits, echo=echo, progress=rank_zero_only.rank == 0)
        self.quality = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.sanity_checking or not epoch_due(trainer, self.every_n_epochs) or trainer.datamodule is None:
            return
        if self.quality is None:
            self.quality = SampleQuality.from_config(self.extractor, self.metrics_cfg, self.seed)
        values = measure(pl_module, trainer.datamodule.splits.train, self.quality, self.num_samples, prefix="val",
                         seed=self.seed, rank=trainer.global_rank, world=trainer.world_size, draws=self.draws,
                         progress=trainer.is_global_zero and trainer.progress_bar_callback is not None)
        for key, value in values.items():
            # equal on every rank already (synced in compute); sync_dist only silences Lightning's DDP warning
            pl_module.log(key, float(value), on_step=False, on_epoch=True, sync_dist=True)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        """In the test phase that ``fit`` runs after training (``trainer.test``): the sample-quality panel
        against the test split (``test/fid_domain``, ``test/precision_domain``, ``test/blur_ratio``, ...), the
        same measures as ``python -m lit_gen.evaluate``, and the IW-NLL for models with a likelihood."""
        dm = trainer.datamodule
        if dm is None or len(dm.splits.test) == 0:
            return
        progress = trainer.is_global_zero and trainer.progress_bar_callback is not None
        # the test split's real statistics are cached, shared with evaluate and later runs
        quality = SampleQuality.from_config(self.extractor, self.metrics_cfg, self.seed, test_of=self.data_cfg,
                                            n=min(self.num_samples, len(dm.splits.test)))
        values = measure(pl_module, dm.splits.test, quality, self.num_samples, prefix="test", seed=self.seed,
                         rank=trainer.global_rank, world=trainer.world_size, progress=progress, draws=self.draws)
        if self.nll_k > 0 and supports_likelihood(pl_module):
            values.update(iw_nll(pl_module, dm.splits.test, self.nll_k, prefix="test", budget=self.nll_batch,
                                 seed=self.seed, rank=trainer.global_rank, world=trainer.world_size,
                                 progress=progress))
            self.echo(f"test IW-NLL (k={self.nll_k}, {values['test/nll_n']} images): {values['test/nll']:.2f} nats")
        for key, value in values.items():
            # equal on every rank already (synced in compute / all-reduced in iw_nll); sync_dist only silences
            # Lightning's DDP warning
            pl_module.log(key, float(value), on_epoch=True, sync_dist=True)
