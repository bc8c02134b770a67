"""When per-epoch work (grids, sample metrics, sweeps) is due."""

from __future__ import annotations

import lightning as L


def epoch_due(trainer: L.Trainer, every_n_epochs: int) -> bool:
    """Every ``every_n_epochs`` validation epochs, and always after the last one, so every run ends measured."""
    epoch = trainer.current_epoch + 1
    # max_epochs is -1 (not None) when a run is bounded by max_steps alone: then every epoch was "the last"
    last_epoch = trainer.max_epochs is not None and trainer.max_epochs > 0 and epoch >= trainer.max_epochs
    last_step = trainer.max_steps is not None and trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
    return epoch % every_n_epochs == 0 or last_epoch or last_step or trainer.should_stop
