"""The disentanglement baselines (β-TCVAE, Ada-GVAE), their loss terms against hand computations, Ada-GVAE's pairs
from the factor-batch machinery, and the latent traversals every VAE-family model draws."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from helpers import in_process, small
from lit_gen.config import load_config
from lit_gen.data.factor_batches import FactorBatches, PoolVarier
from lit_gen.errors import UserError
from lit_gen.models.adagvae.losses import adaptive_average, pair_kl, shared_dims
from lit_gen.models.btcvae.losses import tc_decomposition
from lit_gen.spec import DataSpec


# ----------------------------------------------------------------------------- β-TCVAE's decomposition
def _log_n(x, m, s):
    return -0.5 * math.log(2 * math.pi) - math.log(s) - 0.5 * ((x - m) / s) ** 2


def test_tc_decomposition_by_hand():
    # M = 2 items, D = 2 latents, drawn from N = 5 items: every term from the MWS formulas, written out
    z = torch.tensor([[0.3, -1.0], [1.2, 0.4]])
    mu = torch.tensor([[0.0, -0.8], [1.0, 0.5]])
    sd = torch.tensor([[0.5, 0.7], [0.9, 0.4]])
    out = tc_decomposition(z, mu, (2 * sd.log()), dataset_size=5)
    log_nm = math.log(5 * 2)
    for i in range(2):
        dens = [[_log_n(float(z[i, d]), float(mu[j, d]), float(sd[j, d])) for d in range(2)] for j in range(2)]
        log_qzx = sum(dens[i])
        log_qz = math.log(sum(math.exp(sum(dens[j])) for j in range(2))) - log_nm
        log_prod = sum(math.log(sum(math.exp(dens[j][d]) for j in range(2))) - log_nm for d in range(2))
        log_pz = sum(_log_n(float(z[i, d]), 0.0, 1.0) for d in range(2))
        assert float(out["mi"][i]) == pytest.approx(log_qzx - log_qz, abs=1e-5)
        assert float(out["tc"][i]) == pytest.approx(log_qz - log_prod, abs=1e-5)
        assert float(out["dwkl"][i]) == pytest.approx(log_prod - log_pz, abs=1e-5)


def test_total_correlation_is_larger_for_a_correlated_code():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 1, generator=g), torch.randn(256, 1, generator=g)
    logvar = torch.full((256, 2), math.log(0.01))
    indep = torch.cat([a, b], 1)
    corr = torch.cat([a, a], 1)  # the second latent copies the first
    tc_i = tc_decomposition(indep, indep, logvar, 256)["tc"].mean()
    tc_c = tc_decomposition(corr, corr, logvar, 256)["tc"].mean()
    assert tc_c > tc_i + 1.0, (float(tc_c), float(tc_i))


def test_btcvae_terms_sum_to_the_kl_in_expectation():
    # with alpha = beta = gamma = 1 the three terms telescope to log q(z|x) - log p(z), whose mean over z ~ q is the
    # closed-form KL the VAE uses: many samples through the module's own loss
    from lit_gen.models.btcvae import BetaTCVAE, BetaTCVAEConfig
    from lit_gen.models.optim import OptimConfig

    torch.manual_seed(0)
    spec = DataSpec(channels=1, image_size=8, binary=True, train_size=1000)
    model = BetaTCVAE(BetaTCVAEConfig(net="mlp", hidden=[16], latent_dim=3, mc_samples=4000, alpha=1, beta=1, gamma=1),
                      OptimConfig(), spec)
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    t = model.loss_terms(x)
    assert torch.allclose(t["mi"] + t["tc"] + t["dwkl"], t["kl"], atol=0.1), (t["mi"] + t["tc"] + t["dwkl"], t["kl"])
    # beta weights the TC alone: doubling it moves the loss by exactly one more TC (same noise)
    model.model_cfg.beta = 2.0
    torch.manual_seed(1)
    t1 = model.loss_terms(x)
    model.model_cfg.beta = 1.0
    torch.manual_seed(1)
    t0 = model.loss_terms(x)
    assert torch.allclose(t1["loss"] - t0["loss"], t0["tc"], atol=1e-4)


# ----------------------------------------------------------------------------- Ada-GVAE's adaptive averaging
def test_pair_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    m1, m2, v1, v2 = (torch.randn(4, 5, generator=g) for _ in range(4))
    want = kl_divergence(Normal(m1, (0.5 * v1).exp()), Normal(m2, (0.5 * v2).exp()))
    assert torch.allclose(pair_kl(m1, v1, m2, v2), want, atol=1e-5)


def test_adaptive_average_by_hand():
    # dims 0 and 1 agree, dim 2 differs (delta = 4.5 there, 0 elsewhere): tau = 2.25, dims 0, 1 are averaged
    mu1, mu2 = torch.tensor([[0.2, -1.0, 0.0]]), torch.tensor([[0.2, -1.0, 3.0]])
    lv1, lv2 = torch.zeros(1, 3), torch.tensor([[math.log(3.0), 0.0, 0.0]])
    delta = pair_kl(mu1, lv1, mu2, lv2)
    assert float(delta[0, 2]) == pytest.approx(4.5)
    assert float(delta[0, 0]) == pytest.approx(0.5 * (math.log(3) + 1 / 3 - 1))
    (a_mu, a_lv), (b_mu, b_lv), shared = adaptive_average(mu1, lv1, mu2, lv2)
    assert shared.tolist() == [[True, True, False]]
    assert a_mu[0].tolist() == pytest.approx([0.2, -1.0, 0.0]) and b_mu[0].tolist() == pytest.approx([0.2, -1.0, 3.0])
    assert float(a_lv[0, 0]) == pytest.approx(math.log(2.0)) and float(b_lv[0, 0]) == pytest.approx(math.log(2.0))
    assert float(a_lv[0, 2]) == 0.0 and float(b_lv[0, 2]) == 0.0  # each keeps its own posterior where they differ
    assert shared_dims(torch.tensor([[1.0, 1.0, 1.0]])).tolist() == [[False, False, False]]  # nothing below tau


class _Grid(torch.utils.data.Dataset):
    """A 4-factor grid, 3 values each, every combination stored once; the image encodes the item index."""

    def __init__(self):
        idx = torch.arange(81)
        self.factors = torch.stack([(idx // 3 ** k) % 3 for k in range(4)], 1).float()

    def __len__(self):
        return 81

    def __getitem__(self, i):
        return {"image": torch.full((1, 2, 2), float(i)), "factors": self.factors[i]}


@pytest.mark.parametrize("k", [1, 2])
def test_pairs_differ_in_at_most_k_groups(k):
    v = PoolVarier(_Grid(), ("a", "b", "c", "d"), {"a": ("a",), "b": ("b",), "cd": ("c", "d")})
    fb = FactorBatches(v, batch_size=8, odds=[1, 1, 1], seed=0, batches_per_epoch=40, pair_groups=k)
    groups = [(0,), (1,), (2, 3)]
    differing = []
    for batch in fb:
        assert batch["image"].shape == (8, 1, 2, 2) and "varied" not in batch
        f = batch["factors"]
        assert torch.equal(batch["image"][:, 0, 0, 0], (f * torch.tensor([1.0, 3, 9, 27])).sum(1))  # its own image
        for p in range(4):
            diff = [any(f[2 * p, c] != f[2 * p + 1, c] for c in cols) for cols in groups]
            assert sum(diff) <= k
            differing.append(sum(diff))
    assert max(differing) == k  # k groups do get varied (a redraw may land on the same value)


def test_pairs_need_an_even_batch_and_few_enough_groups():
    v = PoolVarier(_Grid(), ("a", "b", "c", "d"))
    with pytest.raises(ValueError, match="even batch size"):
        FactorBatches(v, batch_size=7, odds=[1, 1, 1, 1], pair_groups=1)
    for bad in (["data.factor_pairs=5"], ["data.factor_pairs=1", "data.batch_size=15"],
                ["data.factor_pairs=1", "data.factor_batches=true"]):
        with pytest.raises(UserError, match="data.factor_pairs|data.batch_size"):
            load_config("configs/vae.yaml", ["model.name=adagvae", *bad])
    with pytest.raises(UserError, match="set data.factor_pairs"):
        load_config("configs/vae.yaml", ["model.name=adagvae"])


def test_adagvae_trains_on_pairs_and_validates_on_items():
    from lit_gen.models.adagvae import AdaGVAE, AdaGVAEConfig
    from lit_gen.models.optim import OptimConfig

    torch.manual_seed(0)
    model = AdaGVAE(AdaGVAEConfig(net="mlp", hidden=[16], latent_dim=4), OptimConfig(),
                    DataSpec(channels=1, image_size=8, binary=True))
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    x[1::2] = x[0::2]  # each pair is one image twice: delta = 0 = tau everywhere, and none is strictly below it
    model.train()
    t = model.step_terms({"image": x})
    assert t["shared"].shape == (6,) and torch.all(t["shared"] == 0)
    x[1::2] = 1 - x[0::2]
    t = model.step_terms({"image": x})
    assert torch.all(t["shared"] >= 1) and torch.all(t["shared"] <= 3)  # the midpoint splits the dims
    model.eval()
    assert "shared" not in model.step_terms({"image": x})  # validation: the VAE's loss on single items


# ----------------------------------------------------------------------------- DC-IGN's groups are the data's
def test_factor_latents_must_name_the_datas_groups():
    with pytest.raises(UserError, match="data.name=sprites varies scale, orientation, pos_x, pos_y, intrinsic"):
        load_config("configs/dcign.yaml", ["data.name=sprites", "data.factor_odds=null"])
    with pytest.raises(UserError, match=r"data.factor_odds=\[1, 1, 1, 1\]: needs one weight per factor group of "
                                        "data.name=sprites"):
        load_config("configs/dcign.yaml", ["data.name=sprites", "model.factor_latents={scale: [0], orientation: [1], "
                                           "pos_x: [2], pos_y: [3], intrinsic: '4:'}"])


# ----------------------------------------------------------------------------- traversals
def test_traversal_grid_on_data_without_factors():
    from lit_gen.callbacks.traversals import traversal_grid
    from lit_gen.models.optim import OptimConfig
    from lit_gen.models.vae import VAE, VAEConfig

    model = VAE(VAEConfig(net="mlp", hidden=[16], latent_dim=40), OptimConfig(), DataSpec(channels=1, image_size=8))
    model.eval()
    images, latents, nrow = traversal_grid(model, {"image": torch.rand(64, 1, 8, 8)}, codes=2, steps=5, max_latents=32)
    assert nrow == 2 * 5 + 1 and images.shape == (32 * nrow, 1, 8, 8) and len(latents) == 32
    assert latents == sorted(latents) and torch.all(images[5] == 1)  # the blank between the two items' sweeps
    assert images.min() >= 0 and images.max() <= 1
    # row 0 (latent latents[0]), code 0, step 0: the first item's code with that latent at -3
    x = torch.rand(64, 1, 8, 8)
    images, latents, _ = traversal_grid(model, {"image": x}, codes=2, steps=5)
    with torch.no_grad():
        z = model.encode(x[:1])[0].clone()
        z[0, latents[0]] = -3.0
        assert torch.allclose(images[0], model.to_image(model.decode(z))[0], atol=1e-6)


@pytest.mark.parametrize("config,extra", [("vae", ["model.name=btcvae"]),
                                          ("vae", ["model.name=adagvae", "data.factor_pairs=1"]),
                                          ("cvae", [])])
def test_every_vae_family_run_draws_its_traversals(tmp_path, config, extra):
    ran = in_process("fit", *small(config, f"run.dir={tmp_path}", "run.name=r", "metrics.disentanglement_items=0",
                                   *extra))
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (tmp_path / "r" / "images" / "traversals.png").is_file()
    assert "traversals.png" in ran.stdout  # the run names its pictures
