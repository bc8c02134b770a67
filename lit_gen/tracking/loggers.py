"""Build the run's loggers. CSV is always on (``<run>/metrics.csv``); W&B is offline by default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.utilities import rank_zero_warn
from omegaconf import OmegaConf


def wandb_key_present() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def wandb_mode(cfg) -> str:
    """Online only when the config asks for it and a key is present; never hang on a network."""
    if cfg.logger.mode == "online" and not wandb_key_present():
        rank_zero_warn("logger.mode=online but no W&B key (WANDB_API_KEY or ~/.netrc) was found; logging offline")
        return "offline"
    return cfg.logger.mode


def build_loggers(cfg, run_dir: Path, family: str, wandb_id: Optional[str] = None) -> list[Logger]:
    # version="" writes metrics.csv straight into the run folder
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="", version="")]
    if cfg.logger.name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        mode = wandb_mode(cfg)
        os.environ["WANDB_MODE"] = mode
        os.environ.setdefault("WANDB_SILENT", "true")
        tags = list(cfg.logger.tags) + [f"data:{cfg.data.name}", f"model:{cfg.model.name}"]
        wb = WandbLogger(
            project=cfg.logger.project,
            entity=cfg.logger.entity,
            group=cfg.logger.group or family,
            tags=tags,
            name=run_dir.name,
            save_dir=str(run_dir),
            offline=mode == "offline",
            id=wandb_id,
            resume="allow" if wandb_id else None,
        )
        wb.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        loggers.append(wb)
    return loggers


def wandb_sync_hint(run_dir: Path) -> Optional[str]:
    runs = sorted((Path(run_dir) / "wandb").glob("offline-run-*"))
    return f"wandb sync {runs[-1]}" if runs else None
