"""``lit_gen.run.train`` called as a library leaves the process as it found it: the environment (its W&B and MLflow
variables, the run folder it hands to DDP ranks, Lightning's seed) and the warning filters."""

import os
import warnings

from helpers import REPO, small


def test_train_in_process_leaves_environ_and_warning_filters_as_found(tmp_path, monkeypatch):
    from lit_gen.config import load_config
    from lit_gen.run import train

    monkeypatch.chdir(REPO)
    # W&B offline and a local MLflow store: the loggers that set environment variables for their run
    cfg = load_config("configs/vae.yaml", small("vae", f"run.dir={tmp_path}", "logger.name=[csv,wandb,mlflow]")[2:])
    for key in ("WANDB_MODE", "WANDB_SILENT", "MLFLOW_ALLOW_FILE_STORE", "LIT_GEN_RUN_DIR", "PL_GLOBAL_SEED"):
        monkeypatch.delenv(key, raising=False)
    environ, filters = dict(os.environ), list(warnings.filters)
    metrics = train(cfg)
    assert "val/loss" in metrics  # it did train
    assert dict(os.environ) == environ
    assert warnings.filters == filters
