"""The real CLI, end to end, in a subprocess."""

import csv
import json
import os
import subprocess
import sys

import torch

from conftest import REPO

TINY = ["data.scenes.num_train=320", "data.scenes.num_test=64", "data.batch_size=32", "model.widths=[8,16,16]",
        "metrics.grid_size=16", "metrics.num_samples=200", "metrics.nll_k=5", "metrics.domain_epochs=1"]


def fit(*args, cwd=REPO, env_extra=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(REPO), WANDB_MODE="offline")
    env.pop("LIT_GEN_RUN_DIR", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "lit_gen.fit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_fit_writes_checkpoint_samples_metrics_and_resumes(tmp_path):
    run = ["--config", "configs/vae.yaml", *TINY, f"run.dir={tmp_path}", "run.name=smoke", "logger.name=csv"]
    r = fit(*run, "trainer.max_epochs=1")
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path / "smoke"
    assert f"run folder {d}" in r.stdout
    for f in ("config.yaml", "metrics.csv", "final_metrics.json", "checkpoints/last.ckpt", "images/samples.png",
              "images/reconstructions.png"):
        assert (d / f).is_file(), f
    rows = list(csv.DictReader((d / "metrics.csv").open()))
    assert any(row.get("val/elbo") for row in rows) and any(row.get("train/kl_epoch") for row in rows)
    final = json.loads((d / "final_metrics.json").read_text())
    assert final["val/elbo"] < 0 and final["val/kl"] > 0

    ckpt = torch.load(d / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["lit_gen"]["model"] == "vae" and "model:" in ckpt["lit_gen"]["config"]
    steps_after_one_epoch = ckpt["global_step"]

    # resume: one more epoch from last.ckpt continues the counters
    r = fit(*run, "trainer.max_epochs=2", "ckpt_path=last")
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = torch.load(d / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 2 * steps_after_one_epoch and ckpt["epoch"] == 1


def test_fit_with_wandb_offline_writes_a_wandb_run(tmp_path):
    r = fit("--config", "configs/vae.yaml", *TINY, f"run.dir={tmp_path}", "run.name=wb", "trainer.max_epochs=1",
            "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "logger.name=wandb")
    assert r.returncode == 0, r.stderr[-3000:]
    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert "wandb sync" in r.stdout
    ckpt = torch.load(tmp_path / "wb" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["lit_gen"]["wandb_id"] and runs[0].name.endswith(ckpt["lit_gen"]["wandb_id"])


def test_fit_user_errors_are_one_line(tmp_path):
    r = fit("--config", "configs/vae.yaml", "data.name=mnist", f"data.root={tmp_path}/nowhere", f"run.dir={tmp_path}")
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert "nowhere" in r.stderr
    r = fit("--config", "configs/vae.yaml", "ckpt_path=last", f"run.dir={tmp_path}")
    assert r.returncode == 2 and "ckpt_path=last" in r.stderr
