"""The GAN: losses, nets, alternation and global_step, EMA, fixed noise, DDP, divergence guard."""

import dataclasses
import math
import textwrap
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from torch import nn

from helpers import ahead, in_process, process_env, python_m, scratch, small
from lit_gen.callbacks.divergence import DivergenceCallback
from lit_gen.config import load_config
from lit_gen.errors import TrainingDiverged, UserError
from lit_gen.spec import DataSpec
from lit_gen.models.components.dcgan import DCGANDiscriminator, DCGANGenerator
from lit_gen.models.gan import GAN, GANConfig
from lit_gen.models.optim import OptimConfig
from lit_gen.models.gan import losses as L_

# --------------------------------------------------------------------------- helpers



def tiny_gan(image_size: int = 16, channels: int = 1, **model) -> GAN:
    cfg = GANConfig(**{"latent_dim": 8, "g_width": 4, "d_width": 4, "num_fixed_noise": 16, **model})
    return GAN(cfg, OptimConfig(lr=2e-4, betas=[0.5, 0.999]), DataSpec(channels=channels, image_size=image_size))


class Images(torch.utils.data.Dataset):
    def __init__(self, n=64, size=16, channels=1):
        self.x = torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"image": self.x[i]}


def fit(model, callbacks=(), batches=None, max_steps=-1, n=64, max_epochs=1, ckpt_path=None):
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=max_epochs, max_steps=max_steps,
                        limit_train_batches=batches, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=list(callbacks))
    loader = torch.utils.data.DataLoader(Images(n, model.data.image_size, model.data.channels), batch_size=8)
    trainer.fit(model, train_dataloaders=loader, ckpt_path=ckpt_path)
    return trainer


class StepRecorder(L.Callback):
    """A test double: which optimizer steps, in order ('D' or 'G'), via the hook Lightning calls before each step."""

    def __init__(self):
        self.steps = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.steps.append("G" if optimizer is trainer.optimizers[0] else "D")


# --------------------------------------------------------------------------- losses, by hand

# logits: d_real = [0, 2], d_fake = [-1, 4]; softplus(x) = log(1 + e^x)
SP = {0: math.log(2), -2: math.log1p(math.exp(-2)), -1: math.log1p(math.exp(-1)), 4: math.log1p(math.exp(4)),
      1: math.log1p(math.exp(1)), -4: math.log1p(math.exp(-4))}
R, F = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 4.0])


def test_losses_match_hand_computation():
    # J_D = mean(-log D(x)) + mean(-log(1 - D(G(z)))) = mean(softplus(-r)) + mean(softplus(f))
    # softplus(-r) at r = 0, 2 and softplus(f) at f = -1, 4, from math's log1p, not from the code under test
    assert float(L_.gan_loss_dis(R, F)) == pytest.approx((SP[0] + SP[-2]) / 2 + (SP[-1] + SP[4]) / 2, abs=1e-6)
    assert float(L_.gan_loss_dis(R, F)) == pytest.approx(2.5757434035, abs=1e-6)
    # minimax G: mean(log(1 - D(G(z)))) = -mean(softplus(f)) = -(0.3132617 + 4.0181499) / 2
    assert float(L_.minimax_loss_gen(F)) == pytest.approx(-2.1657058077, abs=1e-6)
    # non-saturating G: mean(-log D(G(z))) = mean(softplus(-f)) = (1.3132617 + 0.0181499) / 2
    assert float(L_.ns_loss_gen(F)) == pytest.approx(0.6657058077, abs=1e-6)
    # hinge D: mean(relu(1 - r)) + mean(relu(1 + f)) = mean([1, 0]) + mean([0, 5]) = 0.5 + 2.5
    assert float(L_.hinge_loss_dis(R, F)) == pytest.approx(3.0)
    assert float(L_.hinge_loss_gen(F)) == pytest.approx(-1.5)
    # Wasserstein critic: mean(f) - mean(r) = 1.5 - 1.0
    assert float(L_.wasserstein_loss_dis(R, F)) == pytest.approx(0.5)
    assert float(L_.wasserstein_loss_gen(F)) == pytest.approx(-1.5)
    assert set(L_.LOSSES) == {"minimax", "nonsaturating", "hinge", "wgan-gp"}
    assert L_.LOSSES["nonsaturating"] == (L_.gan_loss_dis, L_.ns_loss_gen)
    assert L_.LOSSES["minimax"] == (L_.gan_loss_dis, L_.minimax_loss_gen)


def test_losses_are_stable_at_extreme_logits():
    big = torch.tensor([100.0, -100.0])
    assert float(L_.gan_loss_dis(torch.tensor([100.0]), torch.tensor([-100.0]))) == pytest.approx(0.0, abs=1e-6)
    assert float(L_.ns_loss_gen(torch.tensor([-100.0]))) == pytest.approx(100.0)
    assert float(L_.minimax_loss_gen(torch.tensor([100.0]))) == pytest.approx(-100.0)
    x = big.clone().requires_grad_(True)
    L_.gan_loss_dis(x, x).backward()
    assert torch.isfinite(x.grad).all()


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = <w, x> has grad w everywhere: ||w|| = ||(3, 4)|| = 5, penalty (5 - 1)^2 = 16,
    # d penalty / d w = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (3, 4) / 5 = (4.8, 6.4)
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    critic = lambda x: (x.flatten(1) * w).sum(1)  # noqa: E731
    real, fake = torch.randn(5, 1, 1, 2), torch.randn(5, 1, 1, 2)
    gp = L_.gradient_penalty(critic, real, fake)
    assert float(gp.detach()) == pytest.approx(16.0)
    gp.backward()
    assert w.grad.tolist() == pytest.approx([4.8, 6.4])


# --------------------------------------------------------------------------- nets and config


@pytest.mark.parametrize("size,channels,up_stages", [(32, 1, 3), (64, 3, 4)])
def test_dcgan_nets_shapes_stages_and_init(size, channels, up_stages):
    torch.manual_seed(0)
    g, d = DCGANGenerator(16, channels, size, width=8), DCGANDiscriminator(channels, size, width=8)
    x = g(torch.randn(4, 16))
    assert x.shape == (4, channels, size, size) and x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (4,)
    convt = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convt) == 1 + up_stages  # z -> 4x4, then one stride-2 stage per doubling
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == up_stages - 1  # not on the first layer
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    bn = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert w.mean().abs() < 0.005 and 0.015 < w.std() < 0.025
    assert (bn.mean() - 1).abs() < 0.01 and 0.01 < bn.std() < 0.03


def test_config_errors_name_the_key():
    base = ["data.name=mnist", "data.image_size=32"]
    cfg = load_config("configs/gan_mnist.yaml", base)
    assert cfg.model.name == "gan" and cfg.optim.lr == 2e-4 and list(cfg.optim.betas) == [0.5, 0.999]
    with pytest.raises(UserError, match=r"data.image_size=28: .*data.image_size=32"):
        load_config("configs/gan_mnist.yaml", ["data.image_size=28"])
    with pytest.raises(UserError, match=r"model.d_norm=batch: wgan-gp"):
        load_config("configs/gan_mnist.yaml", ["model.loss=wgan-gp", "model.d_norm=batch"])
    with pytest.raises(UserError, match=r"model.loss='lsgan': choose one of"):
        load_config("configs/gan_mnist.yaml", ["model.loss=lsgan"])
    with pytest.raises(UserError, match=r"model.n_critic=0"):
        load_config("configs/gan_mnist.yaml", ["model.n_critic=0"])
    with pytest.raises(UserError, match=r"trainer.strategy=fsdp"):
        load_config("configs/gan_mnist.yaml", ["trainer.strategy=fsdp"])
    assert load_config("configs/gan.yaml").model.name == "gan"


def test_wgan_gp_discriminator_has_no_batchnorm():
    model = tiny_gan(loss="wgan-gp")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in model.discriminator.modules())  # layer norm by default


# --------------------------------------------------------------------------- alternation and global_step


def test_alternation_fresh_noise_and_global_step_counts_generator_steps():
    torch.manual_seed(0)
    model = tiny_gan(n_critic=3)
    zs = []
    g_forward = model.generator.forward
    model.generator.forward = lambda z: (zs.append(z.detach().clone()), g_forward(z))[1]
    rec = StepRecorder()
    trainer = fit(model, [rec], batches=6)
    # one D step per batch, a G step after every 3rd: D D D G D D D G
    assert "".join(rec.steps) == "DDDGDDDG"
    assert int(model.num_d_steps) == 6 and int(model.num_g_steps) == 2
    assert trainer.global_step == 2  # global_step = generator steps
    # every step (6 D, 2 G) drew its own z
    assert len(zs) == 8 and all(not torch.equal(a, b) for i, a in enumerate(zs) for b in zs[i + 1 :])


def test_max_steps_counts_generator_steps():
    model = tiny_gan(n_critic=2)
    rec = StepRecorder()
    trainer = fit(model, [rec], max_steps=3, n=128)  # 16 batches available
    assert trainer.global_step == 3 and rec.steps.count("G") == 3 and rec.steps.count("D") == 6


def test_resume_keeps_global_step_and_the_critic_phase(tmp_path):
    model = tiny_gan(n_critic=2)
    trainer = fit(model, batches=3)  # D, D+G, D: 1 G step, 3 D steps, the next batch owes a G step
    assert trainer.global_step == 1
    trainer.save_checkpoint(tmp_path / "e0.ckpt")
    model, rec = tiny_gan(n_critic=2), StepRecorder()
    trainer = fit(model, [rec], batches=3, max_epochs=2, ckpt_path=str(tmp_path / "e0.ckpt"))
    assert "".join(rec.steps) == "DGDDG"  # continues D+G, D, D+G
    assert trainer.global_step == 3 and int(model.num_d_steps) == 6


def test_lr_schedulers_step_once_per_epoch():
    model = tiny_gan()
    model.optim_cfg = dataclasses.replace(model.optim_cfg, scheduler="step", step_size=1, gamma=0.5, lr_d=1e-3)
    trainer = fit(model, batches=2, max_epochs=2)
    opt_g, opt_d = trainer.optimizers
    assert opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.25)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.25)  # optim.lr_d: the discriminator's own lr


@pytest.mark.parametrize("loss", ["minimax", "hinge", "wgan-gp"])
def test_each_loss_trains(loss):
    torch.manual_seed(0)
    model = tiny_gan(loss=loss, n_critic=1)
    before = [p.clone() for p in model.parameters()]
    trainer = fit(model, batches=2)
    assert trainer.global_step == 2
    assert all(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if loss == "wgan-gp":
        assert "train/gp" in trainer.callback_metrics


# --------------------------------------------------------------------------- EMA and fixed noise


class GeneratorRecorder(L.Callback):
    def __init__(self, model):
        self.states = [self.snapshot(model)]

    @staticmethod
    def snapshot(model):
        return {k: v.detach().clone() for k, v in model.generator.state_dict().items()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.states.append(self.snapshot(pl_module))


def test_ema_is_the_hand_computed_average_and_is_sampled_and_saved(tmp_path):
    torch.manual_seed(0)
    model = tiny_gan(ema_decay=0.9)
    rec = GeneratorRecorder(model)
    trainer = fit(model, [rec], batches=3)
    # ema_0 = g_0; ema_t = d_t ema_{t-1} + (1 - d_t) g_t, d_t = min(0.9, (1 + t) / (10 + t)) (warm-up):
    # d_1 = 2/11, d_2 = 3/12, d_3 = 4/13  (weights and float BN buffers; counters are copied)
    decays = [2 / 11, 3 / 12, 4 / 13]
    assert [model.ema_decay_at(t) for t in (1, 2, 3)] == pytest.approx(decays)
    assert model.ema_decay_at(10_000) == pytest.approx(0.9)
    init, *after = rec.states
    assert len(after) == 3
    ema_state = model.generator_ema.state_dict()
    for k, v0 in init.items():
        if not v0.is_floating_point():
            assert torch.equal(ema_state[k], after[-1][k])
            continue
        want = v0.clone()
        for d, s in zip(decays, after):
            want = d * want + (1 - d) * s[k]
        torch.testing.assert_close(ema_state[k], want, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(ema_state[k], after[-1][k])  # really an average, not a copy

    model.eval()
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    s = model.sample(4, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(s, (model.generator_ema(z) + 1) / 2)
    assert not torch.allclose(s, (model.generator(z) + 1) / 2)

    path = tmp_path / "gan.ckpt"
    trainer.save_checkpoint(path)
    sd = torch.load(path, weights_only=True, map_location="cpu")["state_dict"]
    assert any(k.startswith("generator_ema.") for k in sd)
    torch.testing.assert_close(sd["generator_ema.net.0.weight"], ema_state["net.0.weight"])
    # the fixed noise is a buffer in the checkpoint; a rebuilt model draws the same grid from it
    torch.testing.assert_close(sd["fixed_z"], model.fixed_z)
    assert int(sd["num_d_steps"]) == 3
    fresh = tiny_gan(ema_decay=0.9)
    with torch.no_grad():
        fresh.fixed_z.normal_()  # proves the loaded buffer, not the constructor, decides
    fresh.load_state_dict(sd)
    fresh.eval()
    torch.testing.assert_close(fresh.fixed_samples(16), model.fixed_samples(16))
    assert model.fixed_samples(20).shape == (20, 1, 16, 16)  # more than stored: extended deterministically
    torch.testing.assert_close(model.fixed_samples(20), model.fixed_samples(20))


def test_without_ema_sample_uses_the_generator():
    model = tiny_gan(ema_decay=0.0).eval()
    assert model.generator_ema is None and not any(k.startswith("generator_ema") for k in model.state_dict())
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    s = model.sample(2, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(s, (model.generator(z) + 1) / 2)
    assert s.min() >= 0 and s.max() <= 1


def test_grid_callback_uses_fixed_noise(tmp_path):
    from lit_gen.callbacks.images import ImageGridCallback

    model = tiny_gan().eval()
    calls = []
    model.sample = lambda *a, **k: calls.append("sample")
    cb = ImageGridCallback(str(tmp_path), num_images=16)
    trainer = SimpleNamespace(datamodule=None, loggers=[], global_step=0)
    cb.write(trainer, model, tag="epoch000")
    assert not calls and (tmp_path / "images" / "samples.png").is_file()


# --------------------------------------------------------------------------- divergence guard (unit)


def _trainer(step=7, last=""):
    return SimpleNamespace(global_step=step, world_size=1, checkpoint_callback=SimpleNamespace(last_model_path=last))


def test_divergence_callback_names_step_and_loss_for_any_model():
    cb = DivergenceCallback()
    cb.on_train_batch_end(_trainer(), None, {"loss": torch.tensor(1.0)}, None, 0)  # finite: nothing happens
    cb.on_train_batch_end(_trainer(), None, None, None, 0)
    with pytest.raises(TrainingDiverged, match=r"^training diverged at step 7: loss=nan; no checkpoint"):
        cb.on_train_batch_end(_trainer(), None, {"loss": torch.tensor(float("nan"))}, None, 0)  # the VAE's output
    kept = "the last good checkpoint is kept: /r/last.ckpt"
    with pytest.raises(TrainingDiverged, match=rf"^training diverged at step 37: loss_g=inf; {kept}$"):
        cb.on_train_batch_end(_trainer(37, "/r/last.ckpt"), None,
                              {"loss_d": torch.tensor(0.5), "loss_g": torch.tensor(float("inf"))}, None, 0)


def test_divergence_callback_refuses_to_checkpoint_non_finite_weights():
    cb = DivergenceCallback()
    cb.on_save_checkpoint(_trainer(), None, {"state_dict": {"w": torch.ones(2), "n": torch.tensor(3)}})
    with pytest.raises(TrainingDiverged, match=r"step 7: w has non-finite values; not saving"):
        cb.on_save_checkpoint(_trainer(), None, {"state_dict": {"w": torch.tensor([1.0, float("nan")])}})


# --------------------------------------------------------------------------- the CLI: DDP and NaN stop

# tiny run on the embedded scenes data (with the default sample-quality metrics: domain FID under DDP too)
TINY = [*small("gan", "data.scenes.num_train=256", "data.scenes.num_test=64", "data.batch_size=32",
               "metrics.grid_size=16", "trainer.limit_train_batches=3", "metrics.features=domain",
               "metrics.num_samples=5000", "metrics.nll_k=100")]

# a test hook, loaded by every Python process of the run (the DDP child too) through sitecustomize, so the
# command itself stays the real `python -m lit_gen.fit`: each process saves its parameters at the end
DUMP_HOOK = textwrap.dedent('''
    import os
    import torch
    from lit_gen.models.gan.module import GAN

    def on_train_end(self):
        state = {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}
        torch.save(state, os.path.join(os.environ["GAN_TEST_DUMP"], f"rank{self.global_rank}.pt"))
    GAN.on_train_end = on_train_end
''')


def ddp_run():
    tmp_path = scratch("gan_ddp")
    dump, hooks = tmp_path / "dump", tmp_path / "hooks"
    dump.mkdir()
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(DUMP_HOOK)
    r = python_m("lit_gen.fit", *TINY, f"run.dir={tmp_path}", "run.name=ddp", "trainer.devices=2",
                 "trainer.strategy=ddp", env=process_env(hooks, GAN_TEST_DUMP=str(dump)), timeout=240)
    return tmp_path, dump, r


@pytest.mark.slow
@pytest.mark.ahead(job=ddp_run)
def test_ddp_two_cpu_processes():
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    tmp_path, dump, r = ahead(ddp_run)
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 3 and int(ckpt["state_dict"]["num_d_steps"]) == 3
    assert (tmp_path / "ddp" / "images" / "samples.png").is_file()
    # the processes saw different batches, yet hold the same weights: the gradients were averaged;
    # and the same buffers (BN statistics): broadcast from rank 0 before validation
    p0, p1 = torch.load(dump / "rank0.pt"), torch.load(dump / "rank1.pt")
    assert p0.keys() == p1.keys() == ckpt["state_dict"].keys()
    assert any(k.startswith("discriminator.") and "running_mean" in k for k in p0)
    for k in p0:
        torch.testing.assert_close(p0[k], p1[k], msg=k)
        torch.testing.assert_close(p0[k], ckpt["state_dict"][k], msg=k)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    step = GAN.training_step

    def poisoned(self, batch, batch_idx):  # epoch 0 is fine; epoch 1's second batch diverges
        if self.current_epoch == 1 and batch_idx == 1:
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.fill_(float("nan"))
        return step(self, batch, batch_idx)

    monkeypatch.setattr(GAN, "training_step", poisoned)
    r = in_process("fit", *TINY, f"run.dir={tmp_path}", "run.name=nan", "trainer.max_epochs=3")
    assert r.returncode == 3, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and r.stderr.strip().endswith(errors[0]) and "Traceback" not in r.stderr
    err = errors[0]
    # epoch 0 makes G steps 1-3; epoch 1's second batch is the 5th step, and its losses are NaN
    assert err.startswith("error: training diverged at step 5: loss_d=nan"), err
    last = tmp_path / "nan" / "checkpoints" / "last.ckpt"
    assert str(last) in err
    ckpt = torch.load(last, weights_only=True, map_location="cpu")
    assert ckpt["epoch"] == 0 and ckpt["global_step"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
