"""W&B logging: group/tags, offline by default, one run under DDP, the same run id on resume."""

import os
import subprocess
import sys

import pytest
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from conftest import REPO
from lit_gen.config import load_config
from lit_gen.errors import UserError
from lit_gen.tracking import loggers as L

TINY = ["data.scenes.num_train=64", "data.scenes.num_test=32", "data.batch_size=32", "model.widths=[8,16,16]",
        "metrics.grid_size=16", "metrics.features=none", "metrics.nll_k=0", "metrics.num_samples=32",
        "trainer.enable_progress_bar=false"]


def cfg_with(*overrides):
    return load_config(str(REPO / "configs" / "vae.yaml"), list(overrides))


@pytest.fixture
def no_wandb_init(monkeypatch):
    """Build WandbLoggers without starting W&B: capture what they would log as config."""
    logged = {}
    monkeypatch.setattr(WandbLogger, "log_hyperparams", lambda self, params, *a, **k: logged.update(params))
    monkeypatch.setattr(L, "start_wandb_run", lambda init, run_dir: None)
    return logged


def test_group_defaults_to_the_model_family_and_tags_name_data_and_model(tmp_path, no_wandb_init):
    cfg = cfg_with("logger.name=wandb", "run.tags=[ablation]")
    csv_logger, wb = L.build_loggers(cfg, tmp_path / "r", family="vae")
    assert type(csv_logger).__name__ == "RunCSVLogger" and isinstance(wb, WandbLogger)
    init = wb._wandb_init
    assert init["group"] == "vae"
    assert init["tags"] == ["ablation", "data:scenes", "model:vae"]
    assert init["name"] == "r" and wb._offline is True
    assert init["resume"] is None and init["id"] is None
    # the resolved config is the W&B config
    assert no_wandb_init["model"]["name"] == "vae" and no_wandb_init["run"]["group"] is None

    cfg = cfg_with("logger.name=wandb", "run.group=my-study")
    _, wb = L.build_loggers(cfg, tmp_path / "r2", family="vae", wandb_id="abc123")
    assert wb._wandb_init["group"] == "my-study"
    assert wb._wandb_init["id"] == "abc123" and wb._wandb_init["resume"] == "allow"


def test_logger_group_and_tags_moved_to_run():
    with pytest.raises(UserError, match="'logger.group' is now 'run.group'"):
        cfg_with("logger.group=x")
    with pytest.raises(UserError, match="'logger.tags' is now 'run.tags'"):
        cfg_with("logger.tags=[a]")


def test_online_only_when_asked_with_a_key_and_not_forced_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert L.wandb_mode(cfg_with()) == "offline"  # the default
    with pytest.warns(UserWarning, match="no W&B key"):
        assert L.wandb_mode(cfg_with("logger.mode=online")) == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert L.wandb_mode(cfg_with("logger.mode=online")) == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.warns(UserWarning, match="WANDB_MODE=offline"):
        assert L.wandb_mode(cfg_with("logger.mode=online")) == "offline"


def test_other_ranks_create_no_wandb_run(tmp_path, monkeypatch):
    """Under DDP every rank builds the loggers; only global rank 0 may start a W&B run."""
    import wandb

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    _, wb = L.build_loggers(cfg_with("logger.name=wandb"), tmp_path / "r", family="vae")
    assert type(wb.experiment).__name__ == "_DummyExperiment"
    assert wandb.run is None
    assert not (tmp_path / "r" / "wandb").exists()


def test_sync_hint_names_every_segment_of_a_resumed_run(tmp_path):
    assert L.wandb_sync_hint(tmp_path) is None
    for stamp in ("20261124_050000", "20261124_060000"):
        (tmp_path / "wandb" / f"offline-run-{stamp}-abc123").mkdir(parents=True)
    hint = L.wandb_sync_hint(tmp_path)
    assert hint.startswith("wandb sync ")
    assert hint.index("050000-abc123") < hint.index("060000-abc123")


def fit(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(REPO), WANDB_MODE="offline")
    env.pop("LIT_GEN_RUN_DIR", None)
    return subprocess.run([sys.executable, "-m", "lit_gen.fit", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_resume_continues_the_same_wandb_run(tmp_path):
    run = ["--config", "configs/vae.yaml", *TINY, f"run.dir={tmp_path}", "run.name=wb", "logger.name=wandb",
           "trainer.limit_val_batches=1"]
    r = fit(*run, "trainer.max_epochs=1")
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = torch.load(tmp_path / "wb" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    first_id = ckpt["lit_gen"]["wandb_id"]
    assert first_id
    assert "anonymous" not in r.stderr  # W&B's deprecation notice is not the user's concern
    before = (tmp_path / "wb" / "metrics.csv").read_text().splitlines()

    r = fit(*run, "trainer.max_epochs=2", "ckpt_path=last")
    assert r.returncode == 0, r.stderr[-3000:]
    segments = L.offline_runs(tmp_path / "wb")
    assert len(segments) == 2 and all(s.name.endswith(f"-{first_id}") for s in segments)
    ckpt = torch.load(tmp_path / "wb" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["lit_gen"]["wandb_id"] == first_id and ckpt["epoch"] == 1
    # the resumed run appends to metrics.csv: every row from before the resume is still there, then epoch 1's
    import csv

    rows = list(csv.DictReader((tmp_path / "wb" / "metrics.csv").open()))
    old_rows = list(csv.DictReader(before))
    assert len(rows) > len(old_rows) and {r["epoch"] for r in rows} >= {"0", "1"}
    for old, new in zip(old_rows, rows):
        assert all(new[k] == v for k, v in old.items() if v != "")
    # the printed upload command covers both segments
    assert all(str(s) in r.stdout for s in segments) and "wandb sync" in r.stdout
