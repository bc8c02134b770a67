"""Store what is needed to rebuild and resume a run inside every checkpoint.

The config travels as YAML text (plain data), so ``evaluate`` can rebuild the
model and checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from typing import Callable

import lightning as L

import lit_gen

CKPT_KEY = "lit_gen"


class RunMetadata(L.Callback):
    def __init__(self, config_yaml: str, model_name: str, wall_time_s: Callable[[], float] = lambda: 0.0):
        """``wall_time_s()``: the run's wall time so far, earlier segments of a resumed run included."""
        self.config_yaml = config_yaml
        self.model_name = model_name
        self.wall_time_s = wall_time_s

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        wandb_id = None
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                wandb_id = logger.version
        checkpoint[CKPT_KEY] = {
            "config": self.config_yaml,
            "model": self.model_name,
            "wandb_id": wandb_id,
            "version": lit_gen.__version__,
            "wall_time_s": round(float(self.wall_time_s()), 1),
        }
