"""Training scalars are handed to ``self.log`` in batches (``GenerativeModule.log_train``): Lightning's
``self.log`` is costly per call, a large share of a small net's step (benchmarks/bench_overhead.py).
The epoch means must stay exactly Lightning's batch-weighted means, every key must still appear, and
``self.log`` must run on the logging steps only."""

import lightning as L
import pytest
import torch

from lit_gen.spec import DataSpec
from lit_gen.models.gan import GAN, GANConfig
from lit_gen.models.optim import OptimConfig
from test_vae import make_vae


class Batches:
    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class Record(L.Callback):
    """The per-batch losses the steps returned, and the number of items in each batch."""

    def __init__(self, key):
        self.key, self.values, self.sizes = key, [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        out = outputs[self.key] if isinstance(outputs, dict) else outputs
        self.values.append(float(out))
        self.sizes.append(batch["image"].shape[0])


def fit(model, batches, every, key, **kw):
    rec = Record(key)
    calls = []
    log = model.log
    model.log = lambda name, *a, **k: (calls.append(name), log(name, *a, **k))[1]
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=every,
                        callbacks=[rec], **kw)
    trainer.fit(model, train_dataloaders=Batches(batches))
    return trainer, rec, calls


def weighted_mean(values, sizes):
    return sum(v * n for v, n in zip(values, sizes)) / sum(sizes)


def test_vae_epoch_means_exact_and_log_called_on_logging_steps_only():
    torch.manual_seed(0)
    sizes = [5, 5, 5, 5, 5, 5, 3]  # a short last batch: the epoch mean is weighted by items
    batches = [{"image": torch.rand(n, 1, 8, 8).bernoulli()} for n in sizes]
    trainer, rec, calls = fit(make_vae(), batches, every=3, key="loss")
    m = trainer.callback_metrics
    for k in ("loss", "recon", "kl", "elbo"):
        assert f"train/{k}_epoch" in m and f"train/{k}_step" in m
    assert float(m["train/loss_epoch"]) == pytest.approx(weighted_mean(rec.values, rec.sizes), rel=1e-5)
    # logged on steps 3 and 6 (log_every_n_steps) and 7 (the last batch): 3 x 4 keys, not 7 x 4
    assert len(calls) == 3 * 4
    # the last step value is the mean over the batches since the previous logged step (only batch 7 here)
    assert float(m["train/loss_step"]) == pytest.approx(rec.values[-1], rel=1e-5)


def test_vae_max_steps_mid_epoch_still_logs_the_epoch():
    torch.manual_seed(0)
    batches = [{"image": torch.rand(4, 1, 8, 8).bernoulli()} for _ in range(10)]
    trainer, rec, _ = fit(make_vae(), batches, every=50, key="loss", max_steps=4)
    assert len(rec.values) == 4
    assert float(trainer.callback_metrics["train/loss_epoch"]) == pytest.approx(sum(rec.values) / 4, rel=1e-5)


def test_gan_keys_and_epoch_means_with_n_critic():
    torch.manual_seed(0)
    cfg = GANConfig(net="dcgan", latent_dim=8, g_width=8, d_width=8, n_critic=2, ema_decay=0.0)
    model = GAN(cfg, OptimConfig(lr=2e-4, betas=[0.5, 0.999]), DataSpec(channels=1, image_size=32))
    batches = [{"image": torch.rand(4, 1, 32, 32)} for _ in range(6)]
    trainer, rec, calls = fit(model, batches, every=4, key="loss_d")
    m = trainer.callback_metrics
    for k in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert f"train/{k}_epoch" in m
    assert float(m["train/loss_d_epoch"]) == pytest.approx(sum(rec.values) / 6, rel=1e-5)
    assert len(calls) < 6 * 4


def test_validation_epoch_means_exact_with_one_log_call_per_key():
    torch.manual_seed(0)
    model = make_vae()
    sizes = [6, 6, 6, 2]
    batches = [{"image": torch.rand(n, 1, 8, 8).bernoulli()} for n in sizes]
    seen = []
    step_terms = model.step_terms

    def record(batch):
        terms = step_terms(batch)
        seen.append((float(terms["loss"].mean()), batch["image"].shape[0]))
        return terms

    model.step_terms = record
    calls = []
    log = model.log
    model.log = lambda name, *a, **k: (calls.append(name), log(name, *a, **k))[1]
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    out = trainer.validate(model, dataloaders=Batches(batches), verbose=False)[0]
    assert set(out) == {"val/loss", "val/recon", "val/kl", "val/elbo"}
    assert sorted(calls) == sorted(out)  # one self.log per key for the whole epoch, not one per batch
    assert out["val/loss"] == pytest.approx(weighted_mean(*zip(*seen)), rel=1e-5)
