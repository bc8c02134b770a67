"""Every model trains under Lightning DDP: 2 CPU processes (gloo) through the real CLI, a few steps each.
(The GAN's DDP test, with its per-rank checks, is in test_gan.py.)"""

import pytest
import torch

from helpers import ahead, python_m, scratch, small

MODELS = ["vae", "iwae", "dcign", "cvae", "discvae", "cvae_gan", "fgan_kl"]
# a model run from another family's config: the config it starts from, and what makes it that model
VARIANTS = {"cvae_gan": ("cvae", ["model.name=cvae_gan", "model.adversary_weight=1.0", "model.classifier_shift=1"]),
            "iwae": ("vae", ["model.name=iwae"]),
            "fgan_kl": ("gan", ["model.loss=fgan_kl"])}
NAME = {"fgan_kl": "gan"}  # model.name where the variant is a loss, not a model
DDP = ["trainer.num_sanity_val_steps=0", "trainer.devices=2", "trainer.strategy=ddp", "run.name=ddp"]


def ddp_run(model):
    folder = scratch(f"ddp_{model}")
    config, more = VARIANTS.get(model, (model, []))
    return folder, python_m("lit_gen.fit", *small(config, *more, *DDP, f"run.dir={folder}"), timeout=400)


@pytest.mark.slow
@pytest.mark.ahead(job=ddp_run)
@pytest.mark.parametrize("model", MODELS)
def test_ddp_two_cpu_processes(model):
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    tmp_path, r = ahead(ddp_run, model=model)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"]  # both ranks wrote into one run folder
    ckpts = sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir())
    assert ckpts.count("last.ckpt") == 1 and not any(n.startswith("last-v") for n in ckpts), ckpts
    ckpt = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["lit_gen"]["model"] == NAME.get(model, model)
    if model == "fgan_kl":  # the GAN counts both optimizers' steps; its own DDP checks are in test_gan.py
        assert "loss: fgan_kl" in ckpt["lit_gen"]["config"]
        return
    assert ckpt["global_step"] == 3
    if model == "cvae_gan":  # the critics' optimizer stepped too, once per batch (uncounted, as the GAN's D)
        assert len(ckpt["optimizer_states"]) == 2
        assert all(int(st["step"]) == 3 for st in ckpt["optimizer_states"][1]["state"].values())
