"""AIS log-likelihood and BDMC (Wu et al. 2017; lit_gen/metrics/ais.py), and ``python -m lit_gen.ais``.

The tolerances come from repeated runs of the same settings over seeds (16 seeds for the linear-Gaussian model,
10 for the tiny VAE); each lies 3-5 standard deviations of what was measured away from its mean."""

import json
import math
import subprocess
import sys

import pytest
import torch

from helpers import REPO, in_process, process_env, small
from lit_gen.metrics import ais
from lit_gen.models.optim import OptimConfig
from lit_gen.models.vae import VAE, VAEConfig
from lit_gen.spec import DataSpec


def linear_gaussian(latent=2, dim=8, sigma=0.5, seed=0):
    """z ~ N(0, I), x = W z + b + N(0, sigma^2 I): a decoder whose log p(x) = log N(x; b, W W^T + sigma^2 I) is exact.
    Returns (the decoder, its mean function, exact log p(x))."""
    g = torch.Generator().manual_seed(seed)
    w, b = torch.randn(dim, latent, generator=g), 0.5 * torch.randn(dim, generator=g)
    mean = lambda z: z @ w.T + b  # noqa: E731
    marginal = torch.distributions.MultivariateNormal(b.double(), (w @ w.T + sigma**2 * torch.eye(dim)).double())
    return ais.gaussian_decoder(mean, latent, sigma), mean, lambda x: marginal.log_prob(x.double())


def test_sigmoid_schedule_runs_from_0_to_1_and_is_densest_at_the_ends():
    betas = ais.sigmoid_schedule(100)
    assert len(betas) == 101 and betas[0] == 0 and betas[-1] == 1 and (betas.diff() > 0).all()
    steps = betas.diff()
    assert steps[0] < steps[50] / 5 and steps[-1] < steps[50] / 5
    assert ais.sigmoid_schedule(1).tolist() == [0.0, 1.0]  # one step: importance sampling from the prior


def test_ais_matches_the_exact_log_likelihood_of_a_linear_gaussian_model():
    decoder, _, exact = linear_gaussian()
    x = decoder.sample(torch.randn(32, 2, generator=torch.Generator().manual_seed(7)))
    s = ais.Settings(steps=300, chains=64, leapfrog=5, batch_size=32)
    with torch.no_grad():  # as evaluation code calls it: AIS turns autograd on for z itself
        est = ais.ais_log_likelihood(decoder, x, s, seed=0, progress=False)
    err = est.log_px - exact(x)
    # over 16 seeds: mean |err| 0.059 (sd 0.008, max 0.071), mean err -0.005 (sd 0.013)
    assert err.abs().mean() < 0.1, err
    assert err.mean().abs() < 0.05
    assert 0.4 < est.accept < 0.95 and est.log_px.dtype == torch.float64


def test_bdmc_sandwiches_the_exact_log_likelihood_with_a_small_gap():
    decoder, _, exact = linear_gaussian()
    r = ais.bdmc(decoder, 32, ais.Settings(steps=300, chains=64, leapfrog=5, batch_size=32), seed=0, progress=False)
    truth = exact(r.x)
    # over 16 seeds: mean(lower - exact) -0.005 (sd 0.013), mean(upper - exact) +0.014 (sd 0.028), gap 0.018
    # (sd 0.028): stochastic bounds, so either may cross the truth by noise, not by these margins
    assert float((r.lower - truth).mean()) < 0.05
    assert float((r.upper - truth).mean()) > -0.1
    assert abs(r.gap) < 0.15


def test_a_shorter_chain_leaves_a_larger_bdmc_gap():
    decoder, _, _ = linear_gaussian()
    gaps = {t: ais.bdmc(decoder, 32, ais.Settings(steps=t, chains=64, leapfrog=5, batch_size=32), seed=1,
                        progress=False).gap for t in (10, 300)}
    # over 16 seeds: T=10 0.82 (sd 0.18, min 0.59), T=300 0.02 (sd 0.03, max 0.06)
    assert gaps[10] > gaps[300] + 0.3, gaps


def test_choose_sigma_finds_the_noise_of_the_data():
    decoder, mean, _ = linear_gaussian(dim=16, sigma=0.1)
    x = decoder.sample(torch.randn(16, 2, generator=torch.Generator().manual_seed(3)))
    best, scores = ais.choose_sigma(mean, 2, x, ais.Settings(steps=250, chains=4, leapfrog=5),
                                    grid=(0.02, 0.05, 0.1, 0.2, 0.5), progress=False)
    # exact mean log p(x): -6.1, 6.5, 2.4 for sigma 0.05, 0.1, 0.2; this chain scores them -13.3, 5.3, 2.0 (a short
    # chain underestimates a narrow posterior most: 100 steps put 0.1 only 1.4 nats ahead of 0.2, 50 behind it)
    assert best == 0.1, scores


def prototypes(n: int, seed: int) -> torch.Tensor:
    """8x8 binary images: one of 4 fixed random patterns, 5% of pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, 64, generator=torch.Generator().manual_seed(123)) < 0.35).float()
    flips = (torch.rand(n, 64, generator=g) < 0.05).float()
    return (protos[torch.randint(0, 4, (n,), generator=g)] - flips).abs().view(n, 1, 8, 8)


def test_ais_on_a_trained_vae_reaches_its_importance_weighted_estimate():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(net="mlp", latent_dim=2, hidden=[32]), OptimConfig(),
              DataSpec(channels=1, image_size=8, pixel_mean=[0.35] * 64))
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    for step in range(300):
        loss = vae.loss_terms(prototypes(64, seed=step))["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    vae.eval().requires_grad_(False)
    x = prototypes(16, seed=10_000)
    torch.manual_seed(0)
    iw = vae.log_likelihood(x, k=1000).mean()
    est = ais.ais_log_likelihood(ais.own_likelihood(vae), x, ais.Settings(steps=200, chains=16, leapfrog=5),
                                 progress=False)
    # over 10 seeds, AIS - IW: mean -0.022, sd 0.036, min -0.063. With a 2-d latent, k = 1000 is all but exact, so
    # AIS should not be far above it either
    diff = float(est.log_px.mean() - iw)
    assert -0.2 < diff < 0.2, (float(est.log_px.mean()), float(iw))


def test_a_gaussian_vae_own_likelihood_is_the_gaussian_observation_model_at_its_sigma():
    vae = VAE(VAEConfig(net="mlp", latent_dim=3, hidden=[16], likelihood="gaussian", sigma=0.3), OptimConfig(),
              DataSpec(channels=1, image_size=4, pixel_mean=[0.5] * 16)).eval().requires_grad_(False)
    own, gauss = ais.own_likelihood(vae), ais.gaussian_decoder(vae.decoder_mean, 3, 0.3)
    z, x = torch.randn(5, 3), torch.rand(5, 1, 4, 4)
    torch.testing.assert_close(own.log_lik(z, x), gauss.log_lik(z, x))
    torch.manual_seed(0)
    draws = own.sample(z.repeat(2000, 1)) - vae.decoder_mean(z).repeat(2000, 1, 1, 1)
    assert abs(float(draws.std()) - 0.3) < 0.01  # x ~ p(x|z) for BDMC: the mean plus the model's own noise


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny VAE (Bernoulli, conv) and a tiny GAN on the embedded scenes."""
    tmp = tmp_path_factory.mktemp("ais")
    out = {}
    for family in ("vae", "gan"):
        r = in_process("fit", *small(family, f"run.dir={tmp}", f"run.name={family}"))
        assert r.returncode == 0, r.stderr[-3000:]
        out[family] = tmp / family / "checkpoints" / "last.ckpt"
    return out


FAST = ["--n", "4", "--steps", "10", "--chains", "2", "--leapfrog", "2", "--bdmc", "2", "--batch", "4", "--no-progress"]


def test_cli_prints_one_json_object_with_the_ais_and_bdmc_figures(checkpoints):
    ckpt = checkpoints["vae"]
    r = in_process("ais", "--ckpt", ckpt, *FAST)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    for key in ("test/ais_nll", "test/ais_n", "test/ais_steps", "test/ais_chains", "test/ais_leapfrog",
                "test/ais_sigma", "bdmc/lower", "bdmc/upper", "bdmc/gap", "bdmc/gap_se", "bdmc/n"):
        assert key in out, key
    assert out["test/ais_n"] == 4 and out["test/ais_steps"] == 10 and out["test/ais_chains"] == 2
    assert out["test/ais_sigma"] is None and out["test/ais_likelihood"].startswith("bernoulli")
    assert math.isfinite(out["test/ais_nll"]) and out["test/ais_nll"] > 0
    assert math.isclose(out["bdmc/gap"], out["bdmc/upper"] - out["bdmc/lower"], rel_tol=1e-9)
    assert "BDMC gap" in r.stderr
    # the IWAE bound on the same images, under the same (own) likelihood
    assert out["test/ais_iw_k"] == 5000 and math.isfinite(out["test/ais_iw_nll"]) and "IW-NLL" in r.stderr
    assert json.loads(ckpt.with_name("last.ais.json").read_text()) == out


def test_cli_puts_a_bernoulli_vae_on_the_gaussian_axis_with_sigma_grid(checkpoints, tmp_path):
    r = in_process("ais", "--ckpt", checkpoints["vae"], *FAST, "--sigma", "grid", "--out", tmp_path / "vae.json")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["test/ais_likelihood"] == "gaussian" and out["test/ais_sigma"] in ais.SIGMA_GRID
    assert "test/ais_iw_nll" not in out  # the IW bound is under the model's own likelihood, not this one


def test_cli_chooses_a_gan_sigma_on_validation_images(checkpoints, tmp_path):
    r = in_process("ais", "--ckpt", checkpoints["gan"], *FAST, "--out", tmp_path / "gan.json")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["test/ais_likelihood"] == "gaussian" and out["test/ais_sigma"] in ais.SIGMA_GRID
    assert out[f"test/ais_sigma_score/{out['test/ais_sigma']:g}"] == max(
        v for k, v in out.items() if k.startswith("test/ais_sigma_score/"))
    assert "chose" in r.stderr and json.loads((tmp_path / "gan.json").read_text()) == out


@pytest.mark.parametrize("flags, named", [(["--steps", "0"], "--steps 0"), (["--sigma", "-1"], "--sigma -1"),
                                          (["--sigma", "model"], "--sigma model")])
def test_cli_bad_input_is_one_line(checkpoints, flags, named):
    ckpt = checkpoints["gan" if "model" in flags else "vae"]
    r = in_process("ais", "--ckpt", ckpt, *FAST, *flags)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and named in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and r.stdout == ""


def test_the_benchmark_prints_seconds_per_image_and_fractions_of_the_limits():
    r = subprocess.run([sys.executable, "benchmarks/bench_ais.py", "--batch", "2", "--timed-steps", "3", "--repeats",
                        "1", "--chains", "2", "--leapfrog", "2"], cwd=REPO, capture_output=True, text=True,
                       env=process_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in r.stdout.strip().splitlines()[2:]}
    assert sorted(rows) == ["gan", "vae"]
    assert float(rows["vae"][3]) == pytest.approx(2 * 2 * (50 * 200 + 200 * 200 + 200 * 784) / 1e6, rel=0.01)
    assert all(float(row[4]) > 0 and 0 < float(row[7]) < 2 for row in rows.values())  # s/image, fraction of peak
    assert 0 < float(rows["vae"][8]) < 2 and rows["gan"][8] == "-"
