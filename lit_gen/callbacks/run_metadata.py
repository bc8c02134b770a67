"""Store what is needed to rebuild and resume a run inside every checkpoint.

The config travels as YAML text (plain data), so ``evaluate`` can rebuild the
model and checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import lightning as L

import lit_gen

CKPT_KEY = "lit_gen"


class RunMetadata(L.Callback):
    def __init__(self, config_yaml: str, model_name: str):
        self.config_yaml = config_yaml
        self.model_name = model_name

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
        }
