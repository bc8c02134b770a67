"""``trainer:`` takes every lightning.Trainer argument; the config is checked before torch or Lightning load."""

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest

from helpers import REPO, in_process, process_env, small
from lit_gen.config import load_config
from lit_gen.config.schema import TRAINER_ARGS_SET_BY_LIT_GEN, TrainerConfig
from lit_gen.errors import UserError

GAN = str(REPO / "configs" / "gan.yaml")


def test_trainer_config_has_every_trainer_argument():
    signature = {n for n in inspect.signature(L.Trainer.__init__).parameters if n != "self"}
    fields = {f.name for f in dataclasses.fields(TrainerConfig)}
    assert fields | set(TRAINER_ARGS_SET_BY_LIT_GEN) == signature
    assert not fields & set(TRAINER_ARGS_SET_BY_LIT_GEN)


@pytest.mark.parametrize("override", ["trainer.profiler=simple", "trainer.fast_dev_run=2", "trainer.overfit_batches=4",
                                      "trainer.detect_anomaly=true", "trainer.max_time=00:00:10:00",
                                      "trainer.benchmark=false", "trainer.sync_batchnorm=true",
                                      "trainer.val_check_interval=0.5"])
def test_any_trainer_argument_is_accepted(override):
    key, value = override.split("=")
    cfg = load_config(GAN, [override])
    assert str(cfg.trainer[key.split(".")[1]]).lower() == value.lower()


@pytest.mark.parametrize("override, parts", [
    ("trainer.no_such_flag=1", ["'trainer.no_such_flag'", "not a lightning.Trainer argument"]),
    ("trainer.max_epoch=3", ["'trainer.max_epoch'", "did you mean trainer.max_epochs?"]),
    ("trainer.logger=false", ["'trainer.logger'", "logger.name"]),
    ("trainer.default_root_dir=/tmp", ["'trainer.default_root_dir'", "run.dir"]),
    ("trainer.barebones=true", ["trainer.barebones=true", "barebones mode forbids"]),
])
def test_unknown_or_reserved_trainer_keys_get_one_line(override, parts):
    with pytest.raises(UserError) as e:
        load_config(GAN, [override])
    assert "\n" not in str(e.value) and all(p in str(e.value) for p in parts), str(e.value)


def test_no_shipped_config_pins_the_accelerator():
    for path in sorted((REPO / "configs").rglob("*.yaml")):
        assert load_config(str(path)).trainer.accelerator == "auto", path


def test_a_config_mistake_is_answered_without_loading_torch():
    """The process boundary is the point: torch and Lightning must not be imported to check a config."""
    code = ("import sys\nfrom lit_gen.fit import main\nrc = main(['--config', 'configs/gan.yaml', 'trainer.no_such_flag=1'])\n"
            "print(rc, 'torch' in sys.modules, 'lightning' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=process_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.split() == ["2", "False", "False"], r.stdout + r.stderr
    assert r.stderr.strip().startswith("error: config: unknown key 'trainer.no_such_flag'")


def test_fit_with_the_simple_profiler_and_a_short_run_has_its_pictures(tmp_path):
    """The main job with trainer.profiler=simple; 3 steps stop before any validation, yet the grids are written."""
    r = in_process("fit", *small("gan", "trainer.profiler=simple", "trainer.max_steps=3",
                                 "trainer.limit_train_batches=null", "trainer.limit_val_batches=null",
                                 f"run.dir={tmp_path}", "run.name=r"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "FIT Profiler Report" in r.stdout + r.stderr
    images = tmp_path / "r" / "images"
    for name in ("samples.png", "real.png"):
        assert (images / name).is_file()
    printed = [line.split(": ", 2)[-1] for line in r.stdout.splitlines() if line.startswith("lit_gen: pictures:")]
    assert len(printed) == 1 and str(images / "samples.png") in printed[0]
    assert all(Path(p).is_file() for p in printed[0].split(", "))
