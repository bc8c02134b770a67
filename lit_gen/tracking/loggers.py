"""Build the run's loggers. CSV is always on (``<run>/metrics.csv``, kept across resumes); W&B is offline by default.

W&B (``logger.name=wandb``), through Lightning's ``WandbLogger``:

* the resolved config is the run's config (hyperparameters);
* group ``run.group``, by default the model family (``vae``, ``gan``, ...); tags
  ``run.tags`` plus ``data:<data.name>`` and ``model:<model.name>``;
* offline unless ``logger.mode=online`` *and* a key is present (``WANDB_API_KEY``
  or ``~/.netrc``) *and* the environment does not force offline
  (``WANDB_MODE=offline|dryrun|disabled``); never waits on a network otherwise;
* one W&B run per training run, also under DDP: ``WandbLogger`` creates it on
  global rank 0 only (other ranks get a dummy experiment);
* on resume the run id stored in the checkpoint (``RunMetadata``) is passed back
  with ``resume="allow"``, so the resumed training continues the same W&B run
  (offline: a second ``offline-run-*-<id>`` folder with the same id; ``wandb
  sync`` uploads the folders of one id in order of start time).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Optional

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn
from omegaconf import OmegaConf

from lit_gen.tracking.csv_log import RunCSVLogger

FORCED_OFFLINE = ("offline", "dryrun", "disabled")


def wandb_key_present() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    try:
        return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")
    except OSError:
        return False


def wandb_mode(cfg) -> str:
    """Online only when the config asks for it and a key is present; never hang on a network."""
    if cfg.logger.mode != "online":
        return "offline"
    if os.environ.get("WANDB_MODE", "").lower() in FORCED_OFFLINE:
        rank_zero_warn(f"logger.mode=online but WANDB_MODE={os.environ['WANDB_MODE']} in the environment; "
                       "logging offline")
        return "offline"
    if not wandb_key_present():
        rank_zero_warn("logger.mode=online but no W&B key (WANDB_API_KEY or ~/.netrc) was found; logging offline")
        return "offline"
    return "online"


def wandb_group(cfg, family: str) -> str:
    return cfg.run.group or family


def wandb_tags(cfg) -> list[str]:
    tags = [str(t) for t in cfg.run.tags] + [f"data:{cfg.data.name}", f"model:{cfg.model.name}"]
    return list(dict.fromkeys(tags))  # unique, in order


def start_wandb_run(init: dict, run_dir: Path):
    """The W&B run, started here on global rank 0 (None elsewhere) and handed to ``WandbLogger(experiment=...)``.

    WandbLogger would start it itself, but it passes ``anonymous=None``, which wandb >= 0.19 answers with a
    deprecation warning in every run; the x-axis is the one WandbLogger defines.
    """
    if rank_zero_only.rank != 0:
        return None
    import wandb

    run = wandb.init(dir=str(run_dir), **init)
    run.define_metric("trainer/global_step")
    run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
    return run


def build_loggers(cfg, run_dir: Path, family: str, wandb_id: Optional[str] = None, resume: bool = False) -> list[Logger]:
    """CSV always; W&B when ``logger.name=wandb``. ``resume``: a resumed run; ``wandb_id``: the W&B run to continue."""
    loggers: list[Logger] = [RunCSVLogger(str(run_dir), resume=resume)]
    if cfg.logger.name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        mode = wandb_mode(cfg)
        os.environ["WANDB_MODE"] = mode
        os.environ.setdefault("WANDB_SILENT", "true")
        init = dict(project=cfg.logger.project, entity=cfg.logger.entity, group=wandb_group(cfg, family),
                    tags=wandb_tags(cfg), name=Path(run_dir).name, id=wandb_id, resume="allow" if wandb_id else None)
        wb = WandbLogger(save_dir=str(run_dir), offline=mode == "offline", experiment=start_wandb_run(init, run_dir),
                         **init)
        # rank_zero_only: on other ranks this neither logs nor creates a W&B run
        wb.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        loggers.append(wb)
    return loggers


def offline_runs(run_dir: Path) -> list[Path]:
    """The run's offline W&B folders, oldest first (a resumed run has one per segment, same id)."""
    return sorted((Path(run_dir) / "wandb").glob("offline-run-*"))


def wandb_sync_hint(run_dir: Path) -> Optional[str]:
    """The command that uploads the run's offline W&B data (every segment of a resumed run), or None."""
    runs = offline_runs(run_dir)
    return "wandb sync " + " ".join(shlex.quote(str(r)) for r in runs) if runs else None
