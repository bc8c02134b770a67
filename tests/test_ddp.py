"""Every model trains under Lightning DDP: 2 CPU processes (gloo) through the real CLI, a few steps each.
(The GAN's DDP test, with its per-rank checks, is in test_gan.py.)"""

import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO

COMMON = ["data.scenes.num_train=128", "data.scenes.num_test=32", "data.batch_size=16", "metrics.features=none",
          "metrics.nll_k=0", "metrics.grid_size=4", "metrics.num_samples=16", "logger.name=csv",
          "trainer.max_epochs=1", "trainer.limit_train_batches=3", "trainer.limit_val_batches=1",
          "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
          "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp", "run.name=ddp"]
MODELS = {
    "vae": ("configs/vae.yaml", ["model.widths=[8,16,16]"]),
    "dcign": ("configs/dcign.yaml", ["model.widths=[8,16,16]"]),
    "cvae": ("configs/cvae.yaml", ["model.widths=[8,16,16]", "model.feat_dim=32", "model.y_hidden=16"]),
    "discvae": ("configs/discvae.yaml", ["model.widths=[8,16,16]", "model.feat_dim=32", "model.y_hidden=16"]),
}


@pytest.mark.parametrize("model", list(MODELS))
def test_ddp_two_cpu_processes(tmp_path, model):
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    config, extra = MODELS[model]
    env = dict(os.environ, PYTHONPATH=str(REPO), WANDB_MODE="offline", OMP_NUM_THREADS="1")
    env.pop("LIT_GEN_RUN_DIR", None)
    r = subprocess.run([sys.executable, "-m", "lit_gen.fit", "--config", config, *COMMON, *extra,
                        f"run.dir={tmp_path}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"]  # both ranks wrote into one run folder
    ckpts = sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir())
    assert ckpts.count("last.ckpt") == 1 and not any(n.startswith("last-v") for n in ckpts), ckpts
    ckpt = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 3 and ckpt["lit_gen"]["model"] == model
