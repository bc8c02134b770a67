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
all-gathers there; compute on rank 0 only would hang);
only rank 0 prints.
"""

from __future__ import annotations

import lightning as L

from lit_gen.callbacks.schedule import epoch_due
from lit_gen.messages import say
from lit_gen.metrics.feature_extractor import scoring_extractor
from lit_gen.metrics.likelihood import iw_nll, supports_likelihood
from lit_gen.metrics.sample_quality import SampleQuality, measure


class SampleQualityCallback(L.Callback):
    def __init__(self, cfg, echo=say):
        """Reads the settings only; the feature extractor is resolved in :meth:`setup` (the domain net is trained
        there the first time it is missing)."""
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
        self.extractor = None
        self.resolved = False
        self.quality = None

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        """The feature extractor, once per callback: the domain net from its cache, trained there if missing, on
        the data of ``trainer.datamodule`` (set up already by Lightning)."""
        if self.resolved or trainer.datamodule is None:
            return
        self.extractor = scoring_extractor(self.metrics_cfg, self.data_cfg, trainer.datamodule.splits, echo=self.echo,
                                           progress=trainer.is_global_zero)
        self.resolved = True

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
