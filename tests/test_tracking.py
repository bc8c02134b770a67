"""W&B logging: group/tags, offline by default, one run under DDP, the same run id on resume."""

import time

import pytest
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from helpers import REPO, in_process, small
from lit_gen.config import load_config
from lit_gen.errors import UserError
from lit_gen.tracking import loggers as L


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


def test_fit_with_wandb_offline_writes_one_run_and_resume_continues_it(tmp_path):
    run = [*small("vae"), f"run.dir={tmp_path}", "run.name=wb", "logger.name=wandb"]
    r = in_process("fit", *run, "trainer.max_epochs=1")
    assert r.returncode == 0, r.stderr[-3000:]
    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert "wandb sync" in r.stdout
    ckpt = torch.load(tmp_path / "wb" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    first_id = ckpt["lit_gen"]["wandb_id"]
    assert first_id and runs[0].name.endswith(first_id)
    assert "anonymous" not in r.stderr  # W&B's deprecation notice is not the user's concern

    # W&B names a run's folder by the second it starts, and gives a second folder of the same second a "-1"
    # suffix; a real resume starts seconds later (a new interpreter), an in-process one can fall in that second
    time.sleep(1)
    r = in_process("fit", *run, "trainer.max_epochs=2", "ckpt_path=last")
    assert r.returncode == 0, r.stderr[-3000:]
    segments = L.offline_runs(tmp_path / "wb")
    assert len(segments) == 2 and all(s.name.endswith(f"-{first_id}") for s in segments)
    ckpt = torch.load(tmp_path / "wb" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["lit_gen"]["wandb_id"] == first_id and ckpt["epoch"] == 1
    # the printed upload command covers both segments
    assert all(str(s) in r.stdout for s in segments) and "wandb sync" in r.stdout


def test_log_model_goes_to_wandb_logger_online_and_never_blocks_an_offline_run(tmp_path, no_wandb_init, monkeypatch):
    import lightning.pytorch.loggers as pl_loggers

    seen = []

    class Recording(WandbLogger):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pl_loggers, "WandbLogger", Recording)
    cfg = cfg_with("logger.name=wandb", "logger.log_model=true", "logger.mode=online")
    L.build_loggers(cfg, tmp_path / "on", family="vae", mode="online")
    assert seen[-1]["log_model"] is True and seen[-1]["offline"] is False
    with pytest.warns(UserWarning, match="logger.log_model=true: W&B artifacts need an online run"):
        L.build_loggers(cfg_with("logger.name=wandb", "logger.log_model=true"), tmp_path / "off", family="vae")
    assert seen[-1]["log_model"] is False and seen[-1]["offline"] is True
