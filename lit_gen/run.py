"""``train(cfg)``: build datamodule, model, callbacks, loggers and trainer from config; fit."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Iterator, Optional

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf

from lit_gen.callbacks.divergence import DivergenceCallback
from lit_gen.callbacks.images import ImageGridCallback
from lit_gen.callbacks.progress import TimedProgressBar
from lit_gen.callbacks.graceful_stop import GracefulStop
from lit_gen.callbacks.rng_state import RngState
from lit_gen.callbacks.run_metadata import CKPT_KEY, RunMetadata
from lit_gen.checkpoints import read_checkpoint
from lit_gen.callbacks.sample_quality_callback import SampleQualityCallback
from lit_gen.callbacks.toy_plots import toy_callback
from lit_gen.callbacks.traversals import TraversalCallback
from lit_gen.config import config_to_yaml
from lit_gen.config.load import run_settings
from lit_gen.data.datamodule import GenerativeDataModule
from lit_gen.errors import UserError
from lit_gen.fast_paths import ChannelsLast, has_conv2d, resolve_precision
from lit_gen.messages import say
from lit_gen.quiet import quiet_third_party
from lit_gen.storage import AtomicCheckpointIO, write_text_atomic
from lit_gen.run_folder import RUN_DIR_ENV, claim_run_folder, clear_old_run
from lit_gen.registry import build_model, check_needs, model_spec
from lit_gen.tracking.loggers import build_loggers, log_final_metrics, uses_wandb, wandb_mode, wandb_sync_hint

def read_checkpoint_meta(path: str, max_epochs=None) -> dict:
    """The lit_gen entry of a checkpoint to resume; a one-line error when ``max_epochs`` is already behind it."""
    ckpt = read_checkpoint(path, f"ckpt_path={path}")
    epoch = ckpt.get("epoch")
    if max_epochs not in (None, -1) and isinstance(epoch, int) and epoch > max_epochs:
        raise UserError(f"trainer.max_epochs={max_epochs}: the checkpoint {path} is at epoch {epoch} already; "
                        f"set trainer.max_epochs above {epoch} to train on")
    return ckpt[CKPT_KEY]


def check_devices(tcfg) -> None:
    """``trainer.devices`` larger than the machine has: one line naming the key, before Lightning starts."""
    devices, acc = tcfg.devices, str(tcfg.accelerator).lower()
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if acc == "auto":
        acc = "gpu" if torch.cuda.is_available() else "cpu"
    if acc in ("gpu", "cuda"):
        have, what = torch.cuda.device_count(), "torch.cuda.device_count()"
    elif acc == "cpu":
        have, what = os.cpu_count() or 1, "os.cpu_count()"
    else:
        return
    if isinstance(devices, int):
        wanted = devices
    elif isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        wanted = len(devices) if acc == "cpu" else max(int(d) for d in devices) + 1 if len(devices) else 0
    else:
        return  # "auto" and other forms: Lightning decides
    if wanted == -1:
        return
    if wanted == 0 or wanted < -1:
        raise UserError(f"trainer.devices={tcfg.devices!r}: must be a positive number of devices (or -1 for all)")
    if wanted > have:
        raise UserError(f"trainer.devices={tcfg.devices!r}: more than available: trainer.accelerator={tcfg.accelerator} "
                        f"has {what}={have}")


def trainer_kwargs(tcfg) -> dict:
    """The ``lightning.Trainer`` arguments of ``trainer.*``; the plugins default to lit_gen's checkpoint writer,
    which writes beside the final name and renames (Lightning's own goes through $TMPDIR)."""
    kw = {k: v for k, v in OmegaConf.to_container(tcfg, resolve=True).items() if v is not None}
    plugins = kw.pop("plugins", None)
    kw["plugins"] = plugins if plugins else [AtomicCheckpointIO()]
    return kw


def scalars(logged: dict) -> dict:
    return {k: float(v) for k, v in logged.items() if not torch.is_tensor(v) or v.numel() == 1}


@contextlib.contextmanager
def environ_as_found() -> Iterator[None]:
    """``os.environ`` as it was once the block ends: what a run exports for its own parts (the run folder for the
    DDP ranks, Lightning's seed, the loggers' ``WANDB_MODE``, ``WANDB_SILENT``, ``MLFLOW_ALLOW_FILE_STORE``) is the
    run's only. Key by key, never cleared: another thread may read it meanwhile."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def train(cfg) -> dict:
    """Fit the configured model; returns the final metrics (also in ``<run>/final_metrics.json``).

    The run folder is claimed first (one for every rank, locked, never a finished run replaced by a name) and
    released at the end, whatever happens. The process is left as it was found, but for the loggers' own state:
    the environment (:func:`environ_as_found`) and the warning and logging filters (:func:`quiet_third_party`)
    are restored when ``train`` returns or raises. The allocator setting (:mod:`lit_gen.allocator`) is the CLI
    entry point's (``lit_gen.cli.run_cli``), never set here."""
    started = time.time()
    check_devices(cfg.trainer)
    with environ_as_found():
        run_dir, ckpt, lock = claim_run_folder(cfg)
        try:
            with quiet_third_party(resuming=ckpt is not None):
                return _train(cfg, run_dir, ckpt, started)
        finally:
            if lock is not None:
                lock.release()


def _train(cfg, run_dir: Path, ckpt: Optional[str], started: float) -> dict:
    # a corrupt or foreign checkpoint is refused before anything in the run folder is (over)written
    meta = read_checkpoint_meta(ckpt, cfg.trainer.max_epochs) if ckpt else {}
    wandb_id = meta.get("wandb_id")
    earlier_s = float(meta.get("wall_time_s") or 0.0)  # the segments before this resume

    def wall_time_s() -> float:
        return earlier_s + time.time() - started

    wandb_run_mode = wandb_mode(cfg) if uses_wandb(cfg) else None  # a trial of wandb agent without a key stops here
    os.environ[RUN_DIR_ENV] = str(run_dir)  # for the ranks Lightning's DDP launcher starts during fit; train() restores it
    say(f"run folder {run_dir}")
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    dm = GenerativeDataModule(cfg.data)
    dm.setup("fit")
    check_needs(cfg.model.name, dm.info)
    spec = model_spec(cfg.model.name)
    model = build_model(cfg, dm.spec())
    conv = has_conv2d(model)
    precision_note = resolve_precision(cfg.trainer, conv)  # before the config is stored: it holds the choice
    if precision_note:
        say(precision_note)
    if cfg.run.channels_last is None:  # stored resolved, as the precision
        cfg.run.channels_last = conv

    config_yaml = config_to_yaml(cfg)
    if rank_zero_only.rank == 0:
        if clear_old_run(cfg, run_dir, ckpt):
            say(f"run.overwrite: the earlier run in {run_dir} is replaced")
        write_text_atomic(run_dir / "config.yaml", config_yaml)

    loggers = build_loggers(cfg, run_dir, spec.family, wandb_id, resume=ckpt is not None,
                            mode=wandb_run_mode)
    every_steps = cfg.run.ckpt_every_n_steps
    callbacks = [
        # with step checkpoints two callbacks write last.ckpt: no "-v1" copies (the version counter is off)
        ModelCheckpoint(dirpath=str(run_dir / "checkpoints"), filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                        save_last=True, save_top_k=1, every_n_epochs=1, enable_version_counter=not every_steps),
    ]
    if every_steps:  # preemption: last.ckpt every n optimizer steps too (mid-epoch; the data order is resumable)
        callbacks.append(ModelCheckpoint(dirpath=str(run_dir / "checkpoints"), save_last=True, save_top_k=0,
                                         every_n_train_steps=every_steps, enable_version_counter=False))
    quality = None
    if model.data.is_image:
        quality = SampleQualityCallback(cfg, echo=say)
        callbacks += [
            ImageGridCallback(str(run_dir), cfg.metrics.every_n_epochs, cfg.metrics.grid_size, seed=cfg.seed,
                              draws=cfg.metrics.draws),
            quality,
        ]
        if hasattr(model, "traversal_code"):  # the VAE family
            callbacks.append(TraversalCallback(str(run_dir), cfg.metrics.every_n_epochs))
    else:  # vectors: grids, blur and FID features mean nothing; mode coverage and density pictures instead
        callbacks.append(toy_callback(str(run_dir), cfg, echo=say))
    callbacks += [
        RunMetadata(config_yaml, cfg.model.name, wall_time_s),
        DivergenceCallback(),
        RngState(),
        GracefulStop(str(run_dir / "checkpoints"), f"ckpt_path=last run.name={run_dir.name} run.dir={run_dir.parent}"),
    ]
    if cfg.trainer.enable_progress_bar:
        callbacks.append(TimedProgressBar(cfg.run.progress_interval_s))
    callbacks += spec.build_callbacks(str(run_dir), cfg, dm)  # the model's own evaluation (DC-IGN's latent sweeps)
    if cfg.run.channels_last:
        callbacks.append(ChannelsLast())
    trainer = L.Trainer(default_root_dir=str(run_dir), logger=loggers, callbacks=callbacks,
                        **trainer_kwargs(cfg.trainer))
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt)
    metrics = scalars(trainer.callback_metrics)
    if not trainer.interrupted:  # the test split, in Lightning's test phase: the test terms and the IW-NLL
        for logged in trainer.test(model, datamodule=dm, verbose=False):
            metrics.update(scalars(logged))
    metrics["wall_time_s"] = round(wall_time_s(), 1)
    if quality is not None and quality.extractor is not None:
        metrics["features_id"] = quality.extractor.id  # which feature net scored FID/KID/IS/PRDC
    if trainer.is_global_zero:
        write_text_atomic(run_dir / "final_metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
        log_final_metrics(trainer.loggers, metrics, trainer.global_step, run_settings(cfg))
    if wandb_run_mode:
        import wandb

        wandb.finish()
    total = f" ({metrics['wall_time_s']:.0f}s with the earlier segments)" if earlier_s else ""
    say(f"done in {time.time() - started:.0f}s{total}; run folder {run_dir}")
    pictures = sorted(p for p in (run_dir / "images").glob("*.png") if not re.search(r"_(epoch|step)\d+$", p.stem))
    if pictures:  # the latest of each picture, at its stable path (the per-epoch copies sit beside them)
        say(f"pictures: {', '.join(str(p) for p in pictures)}")
    hint = wandb_sync_hint(run_dir)
    if hint:
        say(f"W&B is offline; to upload: {hint}")
    return metrics
