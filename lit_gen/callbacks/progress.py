"""Lightning's tqdm progress bar, redrawn at most every ``interval_s`` seconds.

Lightning's ``TQDMProgressBar`` redraws the bar and its metrics after every batch (``refresh_rate=1``), whatever
tqdm's own ``mininterval`` says, a visible share of a small model's step (benchmarks/bench_overhead.py,
docs/performance.md). A step-count ``refresh_rate`` fits one model and not another (steps differ in length by
orders of magnitude between an MLP VAE and DCGAN-64), so the bar is gated on the clock instead, as tqdm gates its
own ``update``. The last batch of an epoch and the end of a stage are always drawn, so the final counts
and metrics on screen are the exact ones.
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import TQDMProgressBar


class TimedProgressBar(TQDMProgressBar):
    def __init__(self, interval_s: float = 0.1, **kwargs):
        """``interval_s`` 0: every batch, Lightning's own behaviour."""
        super().__init__(**kwargs)
        self.interval_s = float(interval_s)
        self._drawn_at: dict = {}  # bar kind -> clock of its last redraw
        self._pending: dict = {}  # bar kind -> batch count not drawn yet

    def _due(self, kind: str, bar, n: int) -> bool:
        if not self.is_enabled or bar.disable:
            return False
        now = time.monotonic()
        if now - self._drawn_at.get(kind, float("-inf")) >= self.interval_s:
            self._drawn_at[kind] = now
            self._pending.pop(kind, None)
            return True
        self._pending[kind] = n
        return False

    def _flush(self, kind: str, bar) -> None:
        """At the end of an epoch or stage: draw the count the clock held back, so the final count is the exact one."""
        n = self._pending.pop(kind, None)
        if n is not None and not bar.disable:
            self._draw(bar, n)

    @staticmethod
    def _draw(bar, n: int) -> None:
        bar.n = n
        bar.refresh()

    # --- training ------------------------------------------------------------------
    def on_train_epoch_start(self, trainer, *args) -> None:
        self._drawn_at.pop("train", None)
        super().on_train_epoch_start(trainer, *args)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        if self._due("train", bar, batch_idx + 1):
            bar.n = batch_idx + 1
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # one redraw for the count and the metrics

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._flush("train", self.train_progress_bar)
        super().on_train_epoch_end(trainer, pl_module)

    # --- evaluation and prediction: counts only, as Lightning's bar ------------------
    def _eval_batch_end(self, kind: str, bar, batch_idx: int) -> None:
        if self._due(kind, bar, batch_idx + 1):
            self._draw(bar, batch_idx + 1)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch_end("val", self.val_progress_bar, batch_idx)

    def on_validation_end(self, trainer, pl_module) -> None:
        self._flush("val", self.val_progress_bar)
        super().on_validation_end(trainer, pl_module)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch_end("test", self.test_progress_bar, batch_idx)

    def on_test_end(self, trainer, pl_module) -> None:
        self._flush("test", self.test_progress_bar)
        super().on_test_end(trainer, pl_module)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch_end("predict", self.predict_progress_bar, batch_idx)

    def on_predict_end(self, trainer, pl_module) -> None:
        self._flush("predict", self.predict_progress_bar)
        super().on_predict_end(trainer, pl_module)
