"""When per-epoch work (grids, sample metrics, sweeps) is due."""

from __future__ import annotations

import lightning as L


def epoch_due(trainer: L.Trainer, every_n_epochs: int) -> bool:
    """Every ``every_n_epochs`` validation epochs, and always after the last one, so every run ends measured."""
    epoch = trainer.current_epoch + 1
    last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
    return epoch % every_n_epochs == 0 or last or trainer.should_stop
