"""Stop a run whose loss becomes NaN or infinite, for every model, keeping the last good checkpoint.

Two checks:

* after each training batch, every scalar tensor the ``training_step`` returned
  (``{"loss": ...}`` under automatic optimization; the GAN returns ``loss_d``/``loss_g``)
  must be finite; otherwise the run stops with ``TrainingDiverged``, whose one-line
  message names the step and the loss (``training diverged at step 37: loss_d=nan``);
* a checkpoint is never written with non-finite weights: ``on_save_checkpoint``
  raises before the file is written. This catches the update that produced a finite
  loss but NaN weights, right before an epoch-end save.

Raising stops Lightning's loop before ModelCheckpoint's next save (it saves on
epoch or validation end, and not on exceptions unless ``save_on_exception``), so
``last.ckpt`` stays the last good one. Under DDP the decision is taken jointly
(any process diverged -> all stop), so no process waits forever in a collective.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import lightning as L
import torch

from lit_gen.errors import TrainingDiverged


def _scalars(outputs: Any) -> dict:
    if torch.is_tensor(outputs):
        outputs = {"loss": outputs}
    if not isinstance(outputs, Mapping):
        return {}
    return {k: v for k, v in outputs.items() if torch.is_tensor(v) and v.numel() == 1 and v.is_floating_point()}


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


class DivergenceCallback(L.Callback):
    def _kept(self, trainer) -> str:
        ckpt = getattr(trainer, "checkpoint_callback", None)
        last = getattr(ckpt, "last_model_path", "") if ckpt is not None else ""
        return f"; the last good checkpoint is kept: {last}" if last else "; no checkpoint was saved before it"

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        values = _scalars(outputs)
        bad = {}
        if values:
            finite = torch.isfinite(torch.stack([v.detach().float().reshape(()) for v in values.values()]))
            if not bool(finite.all()):  # one device sync per step
                bad = {k: float(v) for (k, v), ok in zip(values.items(), finite.tolist()) if not ok}
        if trainer.world_size > 1:  # any process diverged -> all stop together
            diverged = trainer.strategy.reduce_boolean_decision(bool(bad), all=False)
        else:
            diverged = bool(bad)
        if not diverged:
            return
        what = ", ".join(f"{k}={_fmt(v)}" for k, v in bad.items()) or "a loss is not finite on another process"
        raise TrainingDiverged(f"training diverged at step {trainer.global_step}: {what}{self._kept(trainer)}")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        for name, t in checkpoint.get("state_dict", {}).items():
            if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise TrainingDiverged(f"training diverged at step {trainer.global_step}: {name} has non-finite "
                                       f"values; not saving a checkpoint{self._kept(trainer)}")
