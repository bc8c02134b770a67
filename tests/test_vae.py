"""VAE maths: KL, likelihood terms, importance-weighted NLL."""

import math

import pytest
import torch

from lit_gen.spec import DataSpec
from lit_gen.models.optim import OptimConfig
from lit_gen.models.vae import VAE, VAEConfig
from lit_gen.models.vae import losses


def make_vae(net="mlp", likelihood="bernoulli", **kw):
    cfg = VAEConfig(**{**dict(net=net, latent_dim=4, hidden=[32], widths=[8, 16], likelihood=likelihood, sigma=0.3), **kw})
    return VAE(cfg, OptimConfig(), DataSpec(channels=1, image_size=8, pixel_mean=[0.3] * 64))


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5) * 0.5
    z = mu + (0.5 * logvar).exp() * torch.randn(200_000, 3, 5)
    mc = (losses.log_normal(z, mu, logvar) - losses.log_std_normal(z)).mean(0)
    torch.testing.assert_close(losses.gaussian_kl(mu, logvar), mc, rtol=0.02, atol=0.02)


def test_kl_zero_at_prior_and_positive_elsewhere():
    assert losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() < 1e-7
    assert (losses.gaussian_kl(torch.ones(2, 3), torch.zeros(2, 3)) > 0).all()


def test_gaussian_nll_matches_torch_distribution():
    mean, x, log_sigma = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4), torch.full((1, 4, 4), math.log(0.2))
    ref = -torch.distributions.Normal(mean, 0.2).log_prob(x).sum(dim=(1, 2, 3))
    torch.testing.assert_close(losses.gaussian_nll(mean, x, log_sigma), ref)


def test_bernoulli_nll_matches_torch_distribution_with_sample_dim():
    logits, x = torch.randn(3, 2, 1, 4, 4), torch.randint(0, 2, (2, 1, 4, 4)).float()
    ref = -torch.distributions.Bernoulli(logits=logits).log_prob(x.expand_as(logits)).sum(dim=(2, 3, 4))
    torch.testing.assert_close(losses.bernoulli_nll(logits, x), ref)


def test_output_bias_starts_at_pixel_mean():
    vae = make_vae()
    assert torch.sigmoid(vae.decoder.output_bias).sub(0.3).abs().max() < 1e-5


@pytest.mark.parametrize("net", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_shapes_and_ranges(net, likelihood):
    vae = make_vae(net=net, likelihood=likelihood, mc_samples=3)
    x = torch.rand(5, 1, 8, 8)
    terms = vae.loss_terms(x)
    assert all(v.shape == (5,) for v in terms.values())
    assert (terms["kl"] >= 0).all()
    s = vae.sample(6, generator=torch.Generator().manual_seed(0))
    assert s.shape == (6, 1, 8, 8) and s.min() >= 0 and s.max() <= 1
    assert vae.reconstruct(x).shape == x.shape


def test_sample_is_reproducible_with_a_generator():
    vae = make_vae()
    a = vae.sample(4, generator=torch.Generator().manual_seed(1))
    b = vae.sample(4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


def test_iw_nll_k1_is_an_unbiased_elbo_and_k_tightens_the_bound():
    torch.manual_seed(0)
    vae = make_vae()
    x = torch.bernoulli(torch.full((4, 1, 8, 8), 0.3))
    # E[log p_hat] for k=1 equals the ELBO (closed-form KL version) in expectation
    reps = 4000
    xs = x.repeat(reps, 1, 1, 1)  # one batched call instead of a python loop
    k1 = vae.log_likelihood(xs, k=1).view(reps, 4).mean(0)
    with torch.no_grad():
        elbo = vae.loss_terms(xs)["elbo"].view(reps, 4).mean(0)
    torch.testing.assert_close(k1, elbo, rtol=0.0, atol=0.25)
    # the importance-weighted bound with many samples is above the ELBO: NLL <= -ELBO
    k500 = vae.log_likelihood(x, k=500, chunk=128)
    assert (k500 > elbo).all()


def test_iw_nll_chunking_matches_one_chunk():
    vae = make_vae()
    x = torch.bernoulli(torch.full((3, 1, 8, 8), 0.5))
    torch.manual_seed(3)
    a = vae.log_likelihood(x, k=300, chunk=300)
    torch.manual_seed(3)
    b = vae.log_likelihood(x, k=300, chunk=300)
    torch.testing.assert_close(a, b)
    c = vae.log_likelihood(x, k=300, chunk=70)
    torch.testing.assert_close(a, c, rtol=0, atol=0.5)  # same estimator, different draws


def _bce_reference(logits, x, event_dims=3):
    """The former bernoulli_nll: torch's binary_cross_entropy_with_logits on x expanded to the sample dims."""
    nll = torch.nn.functional.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return nll.flatten(start_dim=-event_dims).sum(-1)


def test_bernoulli_nll_softplus_form_equals_the_cross_entropy_form():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 8, 1, 28, 28, generator=g) * 3
    for x in ((torch.rand(8, 1, 28, 28, generator=g) < 0.13).float(), torch.rand(8, 1, 28, 28, generator=g)):
        truth = _bce_reference(logits.double(), x.double())
        assert (losses.bernoulli_nll(logits, x).double() - truth).abs().max() < 1e-3  # float32 rounding of ~1e3
        assert (losses.bernoulli_nll(logits, x).double() - truth).abs().max() <= 4 * (
            _bce_reference(logits, x).double() - truth).abs().max() + 1e-4


def test_bernoulli_nll_eval_and_autograd_paths_agree_and_large_logits_do_not_overflow():
    """Without autograd the softplus is taken in place; with it, and wherever e^l would overflow, torch's softplus."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 4, 1, 28, 28, generator=g) * 3
    x = (torch.rand(4, 1, 28, 28, generator=g) < 0.13).float()
    train = logits.clone().requires_grad_(True)
    with_grad = losses.bernoulli_nll(train, x)
    with_grad.sum().backward()
    torch.testing.assert_close(losses.bernoulli_nll(logits, x), with_grad.detach())
    torch.testing.assert_close(train.grad, torch.sigmoid(logits) - x)  # d/dl [softplus(l) - x l]
    big = logits.clone()
    big[0, 0, 0, 0, 0] = 100.0  # e^100 is inf in float32
    out = losses.bernoulli_nll(big, x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), _bce_reference(big.double(), x.double()), rtol=0, atol=1e-3)


def test_iw_nll_is_the_same_number_as_with_the_cross_entropy_form(monkeypatch):
    """The speed change keeps the estimator: the same IW-NLL to 1e-4 nats on a fixed seed."""
    from lit_gen.metrics.likelihood import iw_log_likelihood

    torch.manual_seed(0)
    vae = make_vae(net="mlp", latent_dim=8).eval()
    x = (torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    torch.manual_seed(2)
    new = iw_log_likelihood(vae, x, k=300, budget=256).mean()
    calls = []
    monkeypatch.setattr(losses, "bernoulli_nll", lambda *a: (calls.append(1), _bce_reference(*a))[1])
    torch.manual_seed(2)
    old = iw_log_likelihood(vae, x, k=300, budget=256).mean()
    assert calls and abs(float(new) - float(old)) < 1e-4
