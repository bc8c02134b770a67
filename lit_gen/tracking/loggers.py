"""Build the run's loggers. CSV is always on (``<run>/metrics.csv``, kept across resumes); ``logger.name`` adds
W&B, TensorBoard and MLflow (Lightning's own loggers). W&B is offline by default.

W&B (``logger.name=wandb``, or a trial of ``wandb agent``), through Lightning's ``WandbLogger``:

* the resolved config is the run's config (hyperparameters);
* group ``run.group``, by default the model family (``vae``, ``gan``, ...); tags
  ``run.tags`` plus ``data:<data.name>`` and ``model:<model.name>``;
* offline unless ``logger.mode=online`` *and* a key is present (``WANDB_API_KEY``
  or ``~/.netrc``) *and* the environment does not force offline
  (``WANDB_MODE=offline|dryrun|disabled``); never waits on a network otherwise; an agent's
  trial is online (see ``wandb_mode``);
* one W&B run per training run, also under DDP: ``start_wandb_run`` creates it on
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

from lit_gen.errors import UserError
from lit_gen.storage import write_text_atomic
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


def agent_sweep_id() -> Optional[str]:
    """The sweep of the ``wandb agent`` that started this process (it sets ``WANDB_SWEEP_ID``), or None."""
    return os.environ.get("WANDB_SWEEP_ID") or None


def wandb_mode(cfg) -> str:
    """Online only when the config asks for it and a key is present; never hang on a network.

    A trial of ``wandb agent`` logs online whatever the config says (the sweep learns only from what reaches the
    server), unless ``WANDB_MODE`` forces offline; without a key it stops with one line, never offline in silence.
    """
    sweep = agent_sweep_id()
    if sweep:
        forced = os.environ.get("WANDB_MODE", "").lower()
        if forced in FORCED_OFFLINE:
            rank_zero_warn(f"launched by wandb agent (sweep {sweep}) with WANDB_MODE={forced}: logging offline, so "
                           "the sweep will not see this trial")
            return "offline"
        if not wandb_key_present():
            raise UserError(f"launched by wandb agent (WANDB_SWEEP_ID={sweep}) but no W&B key was found "
                            "(WANDB_API_KEY or ~/.netrc): run `wandb login` first, or set WANDB_MODE=offline to "
                            "log offline on purpose")
        return "online"
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


def log_model(cfg, mode: str) -> bool:
    """``logger.log_model`` where it can work: W&B artifacts are uploaded by online runs only, and an offline run
    must never be blocked by it (WandbLogger refuses the pair), so offline it is off, with a warning."""
    if cfg.logger.log_model and mode != "online":
        rank_zero_warn("logger.log_model=true: W&B artifacts need an online run; this offline run keeps its "
                       "checkpoints in the run folder only")
        return False
    return bool(cfg.logger.log_model)


def logger_names(cfg) -> list:
    """``logger.name`` as a list (one name or several)."""
    return OmegaConf.to_object(cfg.logger).names()


def uses_wandb(cfg) -> bool:
    """``logger.name`` has wandb, or this is a trial of ``wandb agent`` (which reports to its sweep on W&B)."""
    return "wandb" in logger_names(cfg) or agent_sweep_id() is not None


def start_wandb_run(init: dict, run_dir: Path):
    """The W&B run, started here on global rank 0 (None elsewhere) and handed to ``WandbLogger(experiment=...)``.

    WandbLogger would start it itself, but it passes ``anonymous=None``, which wandb >= 0.19 answers with a
    deprecation warning in every run; the x-axis is the one WandbLogger defines.
    """
    if rank_zero_only.rank != 0:
        return None
    import wandb

    try:
        run = wandb.init(dir=str(run_dir), **init)
    except Exception as e:  # noqa: BLE001 - no server, a bad key, a refused sweep: the user's setup, one line
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise UserError(f"W&B could not start the run ({type(e).__name__}: {first}); check the network and "
                        "`wandb login`, or set WANDB_MODE=offline") from None
    run.define_metric("trainer/global_step")
    run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
    return run


MLFLOW_RUN_ID_FILE = "mlflow_run_id"


def build_loggers(cfg, run_dir: Path, family: str, wandb_id: Optional[str] = None, resume: bool = False,
                  mode: Optional[str] = None) -> list[Logger]:
    """CSV always; W&B when ``uses_wandb``. ``resume``: a resumed run; ``wandb_id``: the W&B run to continue;
    ``mode``: ``wandb_mode(cfg)``, when the caller has checked it already.

    Sets environment variables for the run's loggers (``MLFLOW_ALLOW_FILE_STORE`` for a local MLflow store,
    ``WANDB_MODE`` and ``WANDB_SILENT`` for W&B); ``lit_gen.run.train`` restores the environment when it returns."""
    loggers: list[Logger] = [RunCSVLogger(str(run_dir))]
    keeps_params: list[Logger] = []  # continued runs whose config stays the one first logged
    names = logger_names(cfg)
    if "tensorboard" in names:  # `tensorboard --logdir <run.dir>` shows every run, as <run name>/tensorboard
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="", version="tensorboard",
                                         default_hp_metric=False))
    if "mlflow" in names:  # one local store for the runs of run.dir, unless logger.mlflow_uri names another
        from lightning.pytorch.loggers import MLFlowLogger

        uri = cfg.logger.mlflow_uri
        if not uri:  # a local folder store: no server, no database; MLflow 3 asks to opt in to it
            uri = (Path(run_dir).parent.resolve() / "mlruns").as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        # a resumed run continues its MLflow run (the id sits in the run folder), as the W&B run continues its own
        id_file = Path(run_dir) / MLFLOW_RUN_ID_FILE
        run_id = id_file.read_text().strip() if resume and id_file.is_file() else None
        ml = MLFlowLogger(experiment_name=cfg.logger.project, run_name=Path(run_dir).name, tracking_uri=uri,
                          tags={"group": wandb_group(cfg, family), "data": cfg.data.name, "model": cfg.model.name},
                          run_id=run_id)
        if run_id is not None:  # MLflow refuses to change a logged param, and a resume may extend trainer.max_epochs
            keeps_params.append(ml)
        elif rank_zero_only.rank == 0:
            write_text_atomic(id_file, ml.run_id)
        loggers.append(ml)
    if uses_wandb(cfg):
        from lightning.pytorch.loggers import WandbLogger

        mode = mode or wandb_mode(cfg)
        os.environ["WANDB_MODE"] = mode
        os.environ.setdefault("WANDB_SILENT", "true")
        agent = agent_sweep_id() is not None  # the agent's run id, and its sweep's project and entity
        run_id = wandb_id or (os.environ.get("WANDB_RUN_ID") if agent else None)
        project = (agent and os.environ.get("WANDB_PROJECT")) or cfg.logger.project
        entity = (agent and os.environ.get("WANDB_ENTITY")) or cfg.logger.entity
        init = dict(project=project, entity=entity, group=wandb_group(cfg, family),
                    tags=wandb_tags(cfg), name=Path(run_dir).name, id=run_id, resume="allow" if run_id else None)
        wb = WandbLogger(save_dir=str(run_dir), offline=mode == "offline", experiment=start_wandb_run(init, run_dir),
                         log_model=log_model(cfg, mode), **init)
        loggers.append(wb)
    config = OmegaConf.to_container(cfg, resolve=True)
    for lg in loggers[1:]:  # the resolved config is each dashboard's config (rank 0 only: Lightning's loggers)
        if not any(lg is kept for kept in keeps_params):
            lg.log_hyperparams(config)
    return loggers


def log_final_metrics(loggers, metrics: dict, step: int, settings: dict) -> None:
    """The run's final metrics where each dashboard compares runs by them: W&B's run summary, and TensorBoard's
    HPARAMS tab: ``settings`` (the run's config) beside the final validation and test values, as scalars
    ``final/<key>`` (without metrics TensorBoard writes no hparams record and the tab stays empty)."""
    for lg in loggers:
        kind = type(lg).__name__
        if kind == "WandbLogger":
            lg.experiment.summary.update(metrics)
        elif kind == "TensorBoardLogger":
            final = {f"final/{k}": float(v) for k, v in metrics.items()
                     if isinstance(v, (int, float)) and not k.startswith("train/")}
            lg.log_hyperparams(settings, metrics=final, step=step)
            lg.experiment.flush()


def offline_runs(run_dir: Path) -> list[Path]:
    """The run's offline W&B folders, oldest first (a resumed run has one per segment, same id)."""
    return sorted((Path(run_dir) / "wandb").glob("offline-run-*"))


def wandb_sync_hint(run_dir: Path) -> Optional[str]:
    """The command that uploads the run's offline W&B data (every segment of a resumed run), or None."""
    runs = offline_runs(run_dir)
    return "wandb sync " + " ".join(shlex.quote(str(r)) for r in runs) if runs else None
