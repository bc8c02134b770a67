"""IWAE (Burda et al. 2016) and the VAE with an IAF posterior (Kingma et al. 2016): the bound against the ELBO and k,
the flow's log-determinant and autoregressive structure, fit / reload / test IW-NLL, and bad values."""

import json
import math

import pytest
import torch

from helpers import in_process, small_overrides
from lit_gen.models.components.iaf import IAF, MADE, IAFStep
from lit_gen.models.iwae import IWAE, IWAEConfig
from lit_gen.models.optim import OptimConfig
from lit_gen.models.vae import VAE, VAEConfig
from lit_gen.models.vae import losses
from lit_gen.spec import DataSpec

SPEC = DataSpec(channels=1, image_size=8, pixel_mean=[0.3] * 64)


def make_iwae(**kw) -> IWAE:
    torch.manual_seed(0)
    return IWAE(IWAEConfig(**{**dict(net="mlp", latent_dim=4, hidden=[32]), **kw}), OptimConfig(), SPEC)


def batch(n: int = 4) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, 1, 8, 8), 0.3), generator=torch.Generator().manual_seed(1))


# ----------------------------------------------------------------------------- IWAE's bound
def test_iwae_bound_at_k1_is_the_vaes_single_sample_elbo():
    """Same weights, same seed, so the same z: L_1 = log p(x|z) + log p(z) - log q(z|x) of the VAE's own draw."""
    iwae, x = make_iwae(k=1), batch()
    vae = VAE(VAEConfig(net="mlp", latent_dim=4, hidden=[32]), OptimConfig(), SPEC)
    vae.load_state_dict(iwae.state_dict())
    with torch.no_grad():
        torch.manual_seed(7)
        bound = iwae.loss_terms(x)["iw_bound"]
        torch.manual_seed(7)
        recon = vae.loss_terms(x)["recon"]  # -log p(x|z), z the draw below
        mu, logvar = vae.encode(x)
        torch.manual_seed(7)
        z = vae.reparameterize(mu, logvar, 1)[0]
    elbo = -recon + losses.log_std_normal(z) - losses.log_normal(z, mu, logvar)
    torch.testing.assert_close(bound, elbo, rtol=0, atol=1e-4)
    torch.manual_seed(7)
    assert torch.equal(iwae.loss_terms(x)["loss"], -bound)  # the loss is the negative bound


def test_iwae_bound_rises_with_k():
    """E[L_1] <= E[L_5] <= E[L_50], each expectation estimated over R draws of the bound for 4 fixed images."""
    iwae, x = make_iwae(), batch()
    reps, chunk = 4000, 1000
    means, ses = {}, {}
    with torch.no_grad():
        for k in (1, 5, 50):
            torch.manual_seed(k)
            b = torch.cat([iwae.loss_terms(x.repeat(chunk, 1, 1, 1), k=k)["iw_bound"].view(chunk, 4).mean(1)
                           for _ in range(reps // chunk)])
            means[k], ses[k] = float(b.mean()), float(b.std() / math.sqrt(reps))
    # the tolerance: each rise must exceed 5 standard errors of the difference of the two Monte-Carlo means, so it
    # is the bound's rise and not the estimates' noise (measured rises ~0.4 and ~0.1 nats against errors ~0.01)
    for lo, hi in ((1, 5), (5, 50)):
        assert means[hi] - means[lo] > 5 * math.hypot(ses[lo], ses[hi]), (means, ses)
    # and it stays below log p(x), here the k = 5000 estimate (one draw: its own error is ~0.01 nats)
    torch.manual_seed(0)
    assert means[50] < float(iwae.log_likelihood(x, k=5000).mean()) + 0.05


def test_iwae_logs_the_vaes_terms_and_k():
    terms = make_iwae(k=3).loss_terms(batch())
    assert set(terms) == {"recon", "kl", "loss", "elbo", "iw_bound", "k"}
    assert all(v.shape == (4,) for v in terms.values()) and (terms["k"] == 3).all()
    torch.testing.assert_close(terms["elbo"], -(terms["recon"] + terms["kl"]))


# ----------------------------------------------------------------------------- the IAF
def _random_flow(cls, *args):
    torch.manual_seed(0)
    net = cls(*args).double()
    with torch.no_grad():  # away from the near-identity start, so every masked weight shows in the Jacobian
        for p in net.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return net


def test_iaf_log_det_matches_autograds_jacobian():
    dim, ctx = 5, 3
    flow = _random_flow(IAF, dim, ctx, 16, 3)
    z, h = torch.randn(dim, dtype=torch.double), torch.randn(ctx, dtype=torch.double)
    jac = torch.autograd.functional.jacobian(lambda v: flow(v, h)[0], z)
    sign, logabs = torch.linalg.slogdet(jac)
    _, log_det = flow(z, h)
    assert sign > 0
    torch.testing.assert_close(log_det, logabs, rtol=0, atol=1e-9)
    # the reversal between steps: two steps are no longer triangular either way
    flow2 = _random_flow(IAF, dim, ctx, 16, 2)
    two = torch.autograd.functional.jacobian(lambda v: flow2(v, h)[0], z)
    assert two.triu(1).abs().max() > 1e-3 and two.tril(-1).abs().max() > 1e-3


def test_made_and_iaf_step_are_autoregressive():
    dim, ctx = 6, 2
    made = _random_flow(MADE, dim, ctx, 16, 2)
    step = _random_flow(IAFStep, dim, ctx, 16, 2)
    z, h = torch.randn(dim, dtype=torch.double), torch.randn(ctx, dtype=torch.double)
    for out in (0, 1):  # m and s: output i sees z_{<i} only (strictly lower triangular)
        jac = torch.autograd.functional.jacobian(lambda v: made(v, h)[out], z)
        assert jac.triu().abs().max() == 0
        below = torch.ones(dim, dim, dtype=torch.bool).tril(-1)
        assert jac[below].abs().min() > 0  # ... and every z_{<i} does reach it
    jac = torch.autograd.functional.jacobian(lambda v: step(v, h)[0], z)
    assert jac.triu(1).abs().max() == 0  # z'_i does not depend on z_j, j > i
    _, s = step.made(z, h)
    torch.testing.assert_close(jac.diagonal(), torch.sigmoid(s))
    assert not torch.allclose(made(z, h)[0], made(z, h + 1)[0])  # the context reaches every output


# ----------------------------------------------------------------------------- fit, reload, test IW-NLL
@pytest.mark.parametrize("config, more, cls", [
    ("iwae", ["model.k=3"], "IWAE"),
    ("vae_iaf", ["model.iaf_hidden=16", "model.iaf_context=8"], "VAEIAF"),
])
def test_fit_reload_and_test_nll(tmp_path, config, more, cls):
    from lit_gen.checkpoints import load_model
    from lit_gen.metrics.likelihood import iw_nll

    r = in_process("fit", "--config", f"configs/{config}.yaml",
                   *small_overrides("vae", f"run.dir={tmp_path}", "run.name=r", "metrics.nll_k=4", *more))
    assert r.returncode == 0, r.stderr[-3000:]
    final = json.loads((tmp_path / "r" / "final_metrics.json").read_text())
    assert final["test/nll_k"] == 4 and math.isfinite(final["test/nll"]) and final["test/nll"] > 0
    if config == "iwae":
        assert final["val/k"] == 3 and "val/iw_bound" in final
    model, dm, cfg, _ = load_model(str(tmp_path / "r" / "checkpoints" / "last.ckpt"))
    assert type(model).__name__ == cls and cfg.model.name == config
    # the reloaded weights give the test phase's number again (iw_nll is seeded)
    again = iw_nll(model, dm.splits.test, 4, budget=cfg.metrics.nll_batch, seed=cfg.seed, progress=False)
    assert again["test/nll"] == pytest.approx(final["test/nll"], rel=1e-5)


# ----------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("config, override, rule", [
    ("iwae", "model.k=0", "must be >= 1"),
    ("iwae", "model.mc_samples=4", "set model.k instead"),
    ("vae_iaf", "model.iaf_steps=-1", "must be >= 0"),
    ("vae_iaf", "model.iaf_hidden=0", "must be >= 1"),
])
def test_bad_values_are_one_line(config, override, rule):
    r = in_process("fit", "--config", f"configs/{config}.yaml", override)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {override}: ") and rule in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and r.stdout == ""
