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


class PeriodicPictures(L.Callback):
    """Pictures after every due validation epoch, and once more when fit ends if training went on since.

    So a run that stops between validations (``trainer.max_steps=20``) still ends with its pictures. Subclasses
    write them in ``write(trainer, pl_module, tag)``.
    """

    def __init__(self, every_n_epochs: int = 1):
        self.every_n_epochs = every_n_epochs
        self._written_at = None  # the global step of the latest pictures

    def write(self, trainer: L.Trainer, pl_module, tag: str):
        raise NotImplementedError

    def _write(self, trainer: L.Trainer, pl_module, tag: str) -> None:
        self._written_at = trainer.global_step
        self.write(trainer, pl_module, tag)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if not trainer.sanity_checking and epoch_due(trainer, self.every_n_epochs):
            self._write(trainer, pl_module, f"epoch{trainer.current_epoch:03d}")

    def on_fit_end(self, trainer: L.Trainer, pl_module) -> None:
        if self._written_at != trainer.global_step:
            self._write(trainer, pl_module, f"step{trainer.global_step:06d}")
