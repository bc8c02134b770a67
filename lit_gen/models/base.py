"""What every lit_gen LightningModule shares.

Callbacks and metrics talk to models only through this protocol:
``sample(n, generator=None)`` and, where it makes sense, ``reconstruct(x)``,
both returning images in [0, 1]. So a grid or FID callback works for every
model without knowing which one it is.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Optional

import lightning as L
import torch

from lit_gen.models.optim import OptimConfig, build_optimizer, build_scheduler
from lit_gen.spec import DataSpec


def _add_sums(sums: dict, terms: dict, n: int, prog_bar_keys: tuple) -> None:
    """sums[key] = [batch-weighted running sum (a detached tensor), items, shown in the progress bar]."""
    for k, v in terms.items():
        v = v.detach().float() * n
        if k in sums:
            sums[k][0] += v
            sums[k][1] += n
        else:
            sums[k] = [v, n, k in prog_bar_keys]


class GenerativeModule(L.LightningModule):
    """Base class: holds the model's typed config, the ``optim`` config and the data spec; builds optimizers."""

    #: batch keys the model needs; the registry checks them against the data source
    needs: tuple = ("image",)

    def __init__(self, model_cfg, optim_cfg: OptimConfig, data: DataSpec):
        """``model_cfg``: the model's config dataclass (e.g. ``VAEConfig``), as ``registry.build_model`` gives it."""
        super().__init__()
        if not (is_dataclass(model_cfg) and isinstance(optim_cfg, OptimConfig)):
            raise TypeError(f"{type(self).__name__} takes its config dataclass and an OptimConfig, "
                            f"not {type(model_cfg).__name__} and {type(optim_cfg).__name__}")
        self.model_cfg = model_cfg
        self.optim_cfg = optim_cfg
        self.data = data
        # plain types only, so checkpoints load with weights_only=True; not sent to the loggers (logger=False): a
        # run's logged config is its resolved config, which the data spec would overwrite in part
        self.save_hyperparameters({"model": asdict(model_cfg), "optim": asdict(optim_cfg),
                                   "data_spec": dict(vars(data), pixel_mean=None)}, logger=False)
        self._train_sums: dict = {}  # see log_train
        self._eval_sums: dict = {}  # validation/test terms, logged once per epoch
        self._batches_done = 0  # training batches, across epochs and resumes: when the logging steps fall

    # --- the protocol -------------------------------------------------
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        return None

    # --- one loss, logged the same way by every single-loss model ----
    #: logged terms shown in the progress bar
    prog_bar_keys: tuple = ("loss",)

    def step_terms(self, batch: dict) -> dict:
        """Per-item loss terms, each of shape (N,), with a ``loss`` entry to minimise."""
        raise NotImplementedError

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        terms = self.step_terms(batch)
        n = batch["image"].shape[0]
        means = {k: v.mean() for k, v in terms.items()}
        if stage == "train":
            self.log_train(means, n, self.prog_bar_keys)
        else:  # val/test: epoch means only, so one self.log per key at the end of the epoch (on_*_epoch_end)
            _add_sums(self._eval_sums, means, n, self.prog_bar_keys)
        return means["loss"]

    # --- training scalars, handed to self.log in batches --------------------------------
    # summed, then logged on Lightning's logging steps only: self.log is costly per call (benchmarks/bench_overhead.py)
    def log_train(self, terms: dict, n: int, prog_bar_keys: tuple = ()) -> None:
        """Add one batch's scalar terms (``n`` items) to the sums logged as ``train/<key>`` (step and epoch).

        The sums (batch-weighted, detached, no device sync) reach ``self.log`` only on the steps where Lightning uses
        them: every ``trainer.log_every_n_steps`` batches, the last batch of an epoch or of training, and a requested
        stop. The epoch means (``train/*_epoch``) are exactly Lightning's; a step value (``train/*_step``, the
        progress bar) is the mean over the batches since the previous logged step. Validation and test terms (epoch
        means only) are logged once per key at the end of the epoch, with ``sync_dist``: the same batch-weighted
        global means."""
        _add_sums(self._train_sums, terms, n, prog_bar_keys)

    def _train_log_due(self) -> bool:
        """Lightning's logging steps, from public attributes: every ``log_every_n_steps`` batches, the last batch
        of an epoch, the last step of training and a requested stop."""
        t = self.trainer
        every = t.log_every_n_steps
        last_step = t.max_steps is not None and 0 < t.max_steps <= t.global_step
        return (every > 0 and self._batches_done % every == 0) or t.is_last_batch or last_step or t.should_stop

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self._batches_done += 1
        if self._train_sums and self._train_log_due():
            sums, self._train_sums = self._train_sums, {}
            for k, (total, n, bar) in sums.items():
                # sync_dist: under DDP the epoch means are the global ones (a no-op on one process)
                self.log(f"train/{k}", total / n, on_step=True, on_epoch=True, prog_bar=bar, batch_size=n,
                         sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["lit_gen_batches_done"] = self._batches_done  # a resumed run keeps its logging steps

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._batches_done = int(checkpoint.get("lit_gen_batches_done", 0))

    def on_train_epoch_start(self) -> None:
        self._train_sums = {}  # nothing left over from an interrupted epoch

    def _log_eval(self, stage: str) -> None:
        sums, self._eval_sums = self._eval_sums, {}
        for k, (total, n, bar) in sums.items():
            self.log(f"{stage}/{k}", total / n, on_epoch=True, prog_bar=bar, batch_size=n, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val")

    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    # --- optimization -------------------------------------------------
    def configure_optimizers(self):
        opt = build_optimizer(self.parameters(), self.optim_cfg)
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        sched = build_scheduler(opt, self.optim_cfg, max_epochs)
        if sched is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
