"""The sequential VAE of Zhao, Song & Ermon (2017) as its paper specifies it: one step is the VAE, no gradient passes
between steps, the training chain is the generative chain, the last output reads every step's code; fit, reload and
test IW-NLL from its config, and bad values."""

import json
import math

import pytest
import torch

from helpers import in_process, small_overrides
from lit_gen.models.optim import OptimConfig
from lit_gen.models.seqvae import SeqVAE, SeqVAEConfig
from lit_gen.models.vae import VAE, VAEConfig
from lit_gen.spec import DataSpec

SPEC = DataSpec(channels=1, image_size=8, pixel_mean=[0.3] * 64)
NET = dict(net="mlp", latent_dim=4, hidden=[32])


def make(steps: int = 3, **kw) -> SeqVAE:
    torch.manual_seed(0)
    return SeqVAE(SeqVAEConfig(**NET, steps=steps, embed_dim=6, **kw), OptimConfig(), SPEC)


def batch(n: int = 4) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, 1, 8, 8), 0.3), generator=torch.Generator().manual_seed(1))


def vae_like(seq: SeqVAE) -> VAE:
    """A VAE holding the chain's first step."""
    vae = VAE(VAEConfig(**NET), OptimConfig(), SPEC)
    vae.load_state_dict({k: v for k, v in seq.state_dict().items() if not k.startswith("refine.")})
    return vae


def test_one_step_is_the_vae():
    seq, x = make(steps=1), batch()
    vae = vae_like(seq)
    for key in ("loss", "recon", "kl", "elbo"):
        torch.manual_seed(3)
        a = seq.loss_terms(x)[key]
        torch.manual_seed(3)
        torch.testing.assert_close(a, vae.loss_terms(x)[key], rtol=1e-6, atol=1e-5)  # float rounding only
    torch.manual_seed(5)
    a = seq.log_likelihood(x, k=20)
    torch.manual_seed(5)
    torch.testing.assert_close(a, vae.log_likelihood(x, k=20), rtol=0, atol=0)


def test_no_gradient_passes_between_steps():
    """Step 1's networks get exactly the VAE's gradient (later steps' losses do not reach them); later steps train."""
    seq, x = make(steps=3), batch()
    vae = vae_like(seq)
    torch.manual_seed(3)
    seq.loss_terms(x)["loss"].sum().backward()
    torch.manual_seed(3)
    vae.loss_terms(x)["loss"].sum().backward()
    first = dict(vae.named_parameters())
    for name, p in seq.named_parameters():
        if name.startswith("refine."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            torch.testing.assert_close(p.grad, first[name].grad, rtol=1e-5, atol=1e-6)


def test_the_training_chain_is_the_generative_chain():
    """The last step's reconstruction term is -log p(x | z) of the model's decode() on the same draws z_1..z_T."""
    seq, x = make(steps=3), batch()
    with torch.no_grad():
        torch.manual_seed(3)
        terms = seq.loss_terms(x)
        torch.manual_seed(3)
        z = torch.cat([mu + (0.5 * lv).exp() * torch.randn(1, *mu.shape)[0] for mu, lv in seq.step_posteriors(x)], -1)
        torch.testing.assert_close(seq.neg_log_px(seq.decode(z), x), terms["recon"], rtol=1e-5, atol=1e-4)
        assert z.shape == (4, 3 * 4) and seq.latent_dim == 12
        # the elbo is the last step's bound: its reconstruction and every step's KL
        torch.testing.assert_close(terms["elbo"], -(terms["recon"] + terms["kl"]))
        torch.testing.assert_close(terms["loss"], terms["recon_1"] + terms["recon_2"] + terms["recon_3"] + terms["kl"])


def test_the_last_output_reads_every_steps_code():
    seq = make(steps=3)
    z = torch.randn(5, 12, requires_grad=True)
    seq.decoder_mean(z).sum().backward()
    per_step = z.grad.abs().view(5, 3, 4).sum(dim=(0, 2))
    assert (per_step > 0).all(), per_step
    with torch.no_grad():
        a = seq.sample(6, generator=torch.Generator().manual_seed(0))
        b = seq.sample_draw(6, generator=torch.Generator().manual_seed(0))
    assert a.shape == (6, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    assert set(b.unique().tolist()) <= {0.0, 1.0}


@pytest.fixture(scope="module")
def seq_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seqvae")
    r = in_process("fit", "--config", "configs/seqvae.yaml",
                   *small_overrides("vae", f"run.dir={tmp}", "run.name=r", "metrics.nll_k=4", "model.steps=2",
                                    "model.embed_dim=8"))
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp / "r"


def test_fit_reload_and_test_nll(seq_run):
    from lit_gen.checkpoints import load_model
    from lit_gen.metrics.likelihood import iw_nll

    final = json.loads((seq_run / "final_metrics.json").read_text())
    assert final["test/nll_k"] == 4 and math.isfinite(final["test/nll"]) and final["test/nll"] > 0
    assert {"val/recon_1", "val/recon_2", "val/elbo"} <= set(final)
    assert (seq_run / "images" / "samples_draw.png").is_file()
    model, dm, cfg, _ = load_model(str(seq_run / "checkpoints" / "last.ckpt"))
    assert type(model).__name__ == "SeqVAE" and cfg.model.steps == 2
    again = iw_nll(model, dm.splits.test, 4, budget=cfg.metrics.nll_batch, seed=cfg.seed, progress=False)
    assert again["test/nll"] == pytest.approx(final["test/nll"], rel=1e-5)


def test_evaluate_and_compare_take_the_new_models(seq_run, tmp_path):
    """evaluate scores the sequential VAE's mean and draws; compare reports it beside an f-GAN run."""
    from lit_gen import compare

    r = in_process("evaluate", "--ckpt", seq_run / "checkpoints" / "last.ckpt", "metrics.nll_k=2", "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["model"] == "seqvae" and out["test/nll_k"] == 2
    assert "test/blur_ratio" in out and "test/draw/blur_ratio" in out
    f = in_process("fit", "--config", "configs/fgan.yaml",
                   *small_overrides("gan", f"run.dir={tmp_path}", "run.name=fgan"))
    assert f.returncode == 0, f.stderr[-3000:]
    assert compare.main([str(seq_run), str(tmp_path / "fgan"), "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "report.html").read_text()
    assert "seqvae vs gan" in page and "val/fdiv" in page and "val/recon_2" in page


@pytest.mark.parametrize("override, rule", [
    ("model.steps=0", "must be >= 1"),
    ("model.embed_dim=0", "must be >= 1"),
    ("model.mc_samples=2", "leave mc_samples at 1"),
])
def test_bad_values_are_one_line(override, rule):
    r = in_process("fit", "--config", "configs/seqvae.yaml", override)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {override}: ") and rule in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and r.stdout == ""
