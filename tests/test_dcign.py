"""DC-IGN: one-factor batches, the clamp's forward values and gradients, the metrics, and a CLI smoke run."""

import json

import numpy as np
import pytest
import torch

from helpers import in_process, small
from lit_gen.data.factor_batches import FactorBatches, PoolVarier, RenderedVarier, default_groups
from lit_gen.data.renderers import ScenesFactorRenderer
from lit_gen.data.scenes import renderer as R
from lit_gen.errors import UserError
from lit_gen.metrics.disentanglement import mig, spearman_matrix, sweep_consistency
from lit_gen.models.dcign.clamp import clamp_latents
from lit_gen.models.dcign.config import latent_layout

GROUP_COLS = {"azimuth": [0], "elevation": [1], "light": [2], "intrinsic": [3, 4, 5, 6, 7]}


def _varier():
    factors = R.factors_to_tensor(R.sample_factors(20, torch.Generator().manual_seed(3)))
    return RenderedVarier(factors, ScenesFactorRenderer(16, 1, "plain"))


# ----------------------------------------------------------------------------- sampler


def test_rendered_batches_vary_only_the_chosen_factor():
    v = _varier()
    assert tuple(v.groups) == ("azimuth", "elevation", "light", "intrinsic")
    fb = FactorBatches(v, batch_size=6, odds=[1, 1, 1, 1], seed=0, batches_per_epoch=12)
    seen = set()
    for batch in fb:
        assert batch["image"].shape == (6, 1, 16, 16) and batch["factors"].shape == (6, 8)
        k = int(batch["varied"][0])
        assert (batch["varied"] == k).all()
        group = fb.groups[k]
        seen.add(group)
        f = batch["factors"]
        fixed = [j for j in range(8) if j not in GROUP_COLS[group]]
        assert torch.equal(f[:, fixed], f[:1, fixed].expand(6, -1)), group  # everything else is the base scene
        assert (f[:, GROUP_COLS[group]].std(0) > 0).any(), group  # the chosen group does vary
        # the images are the renders of exactly these factors
        assert torch.allclose(batch["image"], v.render(f), atol=1e-6)
    assert len(seen) >= 3


class _CountingVarier:
    groups = {"a": ("a",), "b": ("b",), "c": ("c",), "d": ("d",)}

    def __len__(self):
        return 10

    def make(self, base, group, n, g):
        return {"image": torch.zeros(n, 1, 2, 2), "factors": torch.zeros(n, 4)}


def test_odds_are_respected():
    fb = FactorBatches(_CountingVarier(), batch_size=2, odds=[1, 1, 1, 10], seed=0, batches_per_epoch=2600)
    counts = np.bincount([int(b["varied"][0]) for b in fb], minlength=4) / 2600
    assert np.allclose(counts, np.array([1, 1, 1, 10]) / 13, atol=0.025), counts


def test_pool_varier_works_for_any_gridded_source():
    # a dSprites-like grid: 4 factors, 3 values each, every combination stored once
    grid = torch.cartesian_prod(*[torch.arange(3.0)] * 4)
    ds = [{"image": torch.full((1, 2, 2), float(i)), "factors": grid[i]} for i in range(len(grid))]
    names = ("azimuth", "elevation", "light", "shape")
    v = PoolVarier(ds, names)
    assert v.groups == default_groups(names) == {"azimuth": ("azimuth",), "elevation": ("elevation",),
                                                 "light": ("light",), "intrinsic": ("shape",)}
    fb = FactorBatches(v, batch_size=5, odds=[1, 1, 1, 1], seed=1, batches_per_epoch=20)
    for batch in fb:
        k = int(batch["varied"][0])
        f = batch["factors"]
        others = [j for j in range(4) if j != k]
        assert torch.equal(f[:, others], f[:1, others].expand(5, -1))
        # the images are the stored items of those factors
        idx = batch["image"][:, 0, 0, 0].long()
        assert torch.equal(grid[idx], f)


def test_batches_stay_whole_per_rank_and_differ_between_ranks():
    from lightning.fabric.utilities.data import has_iterable_dataset
    from torch.utils.data import DataLoader

    v = _CountingVarier()
    r0 = FactorBatches(v, 4, [1, 1, 1, 1], seed=7, batches_per_epoch=30, rank=0, world_size=2)
    r1 = FactorBatches(v, 4, [1, 1, 1, 1], seed=7, batches_per_epoch=30, rank=1, world_size=2)
    loader = DataLoader(r0, batch_size=None)
    # Lightning injects a DistributedSampler only into loaders without an iterable data set
    assert has_iterable_dataset(loader)
    b0 = list(loader)
    assert len(b0) == 30 and all(b["image"].shape[0] == 4 and len(set(b["varied"].tolist())) == 1 for b in b0)
    seq0 = [int(b["varied"][0]) for b in b0]
    seq1 = [int(b["varied"][0]) for b in r1]
    assert seq0 != seq1  # each rank draws its own batches
    r0b = FactorBatches(v, 4, [1, 1, 1, 1], seed=7, batches_per_epoch=30, rank=0, world_size=2)
    assert [int(b["varied"][0]) for b in r0b] == seq0  # reproducible from (seed, rank, epoch)


# ----------------------------------------------------------------------------- clamp

Z = torch.tensor([[1.0, 2.0, -1.0], [3.0, 0.0, 1.0], [2.0, 4.0, 3.0], [-2.0, 2.0, 1.0]])  # N=4, D=3
ACTIVE = torch.tensor([True, False, False])
MEAN = Z.mean(0)  # [1, 2, 1]


@pytest.mark.parametrize("reference", ["mean", "first"])
@pytest.mark.parametrize("strength", [0.0, 0.01, 0.5])
def test_clamp_forward_and_backward_against_hand_computed_values(reference, strength):
    z = Z.clone().requires_grad_(True)
    out = clamp_latents(z, ACTIVE, reference, strength)
    ref = MEAN if reference == "mean" else Z[0]
    expected = Z.clone()
    expected[:, 1:] = ref[1:]  # latents 1, 2 clamped to the batch mean / sample 0
    assert torch.equal(out.detach(), expected)
    # d(sum(w * out)) / dz: w on the active latent; strength * (z - mean) on the clamped ones
    w = torch.arange(12.0).view(4, 3)
    (out * w).sum().backward()
    grad = torch.empty(4, 3)
    grad[:, 0] = w[:, 0]
    grad[:, 1:] = strength * (Z[:, 1:] - MEAN[1:])
    # by hand, for latent 1: z = [2, 0, 4, 2], mean 2 -> strength * [0, -2, 2, 0]
    assert torch.allclose(grad[:, 1], strength * torch.tensor([0.0, -2.0, 2.0, 0.0]))
    assert torch.allclose(z.grad, grad)


def test_clamp_with_monte_carlo_dim_clamps_each_sample_over_its_batch():
    z = torch.stack([Z, 2 * Z]).requires_grad_(True)  # (L=2, N=4, D=3)
    out = clamp_latents(z, ACTIVE, "mean", 0.1)
    assert torch.equal(out[1, :, 1], torch.full((4,), 4.0))
    out.sum().backward()
    assert torch.allclose(z.grad[1, :, 2], 0.1 * (2 * Z[:, 2] - 2 * MEAN[2]))
    assert torch.equal(z.grad[:, :, 0], torch.ones(2, 4))


def test_dcign_clamp_params_variant_and_layout():
    from lit_gen.spec import DataSpec
    from lit_gen.models.dcign import DCIGN, DCIGNConfig
    from lit_gen.models.optim import OptimConfig

    cfg = DCIGNConfig(latent_dim=6, widths=[8, 8], clamp_params=True, clamp_to="first",
                           factor_latents={"azimuth": [0], "elevation": [1], "light": [2], "intrinsic": "3:"})
    m = DCIGN(cfg, OptimConfig(), DataSpec(1, 16, factor_names=tuple(R.FACTOR_NAMES)))
    assert m.assigned_latents() == {"azimuth": 0, "elevation": 1, "light": 2}
    x = torch.rand(5, 1, 16, 16).round()
    m._active = 1  # an elevation batch: latent 1 active, the others clamped to sample 0's mu and logvar
    captured = {}
    orig = m.decode
    m.decode = lambda z: (captured.setdefault("z", z), orig(z))[1]
    torch.manual_seed(0)
    m.loss_terms(x)["loss"].mean().backward()
    z = captured["z"][0].detach()  # (N, D)
    with torch.no_grad():
        mu, logvar = m.encode(x)
    torch.manual_seed(0)
    eps = torch.randn(1, 5, 6)[0]
    mu_c, lv_c = mu[:1].expand(5, -1).clone(), logvar[:1].expand(5, -1).clone()
    mu_c[:, 1], lv_c[:, 1] = mu[:, 1], logvar[:, 1]
    assert torch.allclose(z, mu_c + (0.5 * lv_c).exp() * eps, atol=1e-6)
    assert torch.allclose(m.group_masks[1].float(), torch.tensor([0, 1, 0, 0, 0, 0.0]))


def test_latent_layout_errors_are_one_line():
    assert latent_layout({"azimuth": [0], "elevation": [1], "light": [2], "intrinsic": "3:"}, 5)["intrinsic"] == [3, 4]
    with pytest.raises(UserError, match="both azimuth and intrinsic"):
        latent_layout({"azimuth": [0], "elevation": [1], "light": [2], "intrinsic": "0:"}, 5)
    with pytest.raises(UserError, match="outside 0..4"):
        latent_layout({"azimuth": [7], "elevation": [1], "light": [2], "intrinsic": "3:"}, 5)
    with pytest.raises(UserError, match="unknown factor group"):
        latent_layout({"pose": [0], "elevation": [1], "light": [2], "intrinsic": "3:"}, 5)


# ----------------------------------------------------------------------------- metrics


def test_spearman_and_mig_on_a_known_code():
    rng = np.random.default_rng(0)
    f = rng.uniform(size=(2000, 2))
    z = np.stack([np.exp(3 * f[:, 0]), -f[:, 1] ** 3, rng.normal(size=2000)], axis=1)  # monotone codes + noise
    rho = spearman_matrix(z, f)
    assert rho[0, 0] == pytest.approx(1.0) and rho[1, 1] == pytest.approx(1.0) and rho[2].max() < 0.1
    score, gaps = mig(z, f)
    assert score > 0.6 and (gaps > 0.6).all()
    entangled = np.stack([f[:, 0] + f[:, 1], f[:, 0] - f[:, 1]], axis=1)
    assert mig(entangled, f)[0] < 0.2


# ----------------------------------------------------------------------------- CLI


class _FlipEncoder(torch.nn.Module):
    """z0 = factor 0, times -1 for scenes whose factor 1 is negative: locally perfect, globally inconsistent."""

    def encode(self, x):
        z = x[:, :1] * torch.where(x[:, 1:2] < 0, -1.0, 1.0)
        return z, torch.zeros_like(z)


def test_sweep_consistency_separates_local_tracking_from_a_consistent_direction():
    g = torch.Generator().manual_seed(0)
    factors = torch.rand(40, 2, generator=g) * 2 - 1
    factors[:30, 1] = factors[:30, 1].abs()  # 30 scenes keep the sign, 10 flip it
    factors[30:, 1] = -factors[30:, 1].abs()
    enc = _FlipEncoder()
    enc.register_parameter("p", torch.nn.Parameter(torch.zeros(1)))  # encode_means reads the device from it
    out = sweep_consistency(enc, factors, lambda f: f, factor_col=0, latent=0, value_range=(-1.0, 1.0), scenes=40)
    assert out["sweep_rho"] == pytest.approx(1.0)
    assert out["sweep_sign_agreement"] == pytest.approx(0.75)
    # the global rho of the same code is far lower than the within-scene one
    z = enc.encode(factors)[0].numpy()
    assert spearman_matrix(z, factors[:, :1].numpy())[0, 0] < 0.7


def test_clamped_training_smoke_run_and_disentangle_cli(tmp_path):
    r = in_process("fit", *small("dcign", "data.scenes.num_train=200", "data.scenes.num_test=40", "data.image_size=16",
                          "data.batch_size=8", "model.widths=[8,8]", "model.latent_dim=6",
                          "trainer.limit_train_batches=4", "metrics.every_n_epochs=1", "metrics.factor_vae_votes=9",
                          f"run.dir={tmp_path}",
                          "run.name=dc"))
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path / "dc"
    final = json.loads((d / "final_metrics.json").read_text())
    for k in ("val/spearman_azimuth", "val/spearman_elevation", "val/spearman_light", "val/mig", "val/rerender_mse"):
        assert np.isfinite(final[k]), k
    for name in ("sweep_azimuth", "sweep_elevation", "sweep_light", "scatter"):
        assert (d / "images" / f"{name}.png").is_file(), name

    r = in_process("disentangle", "--ckpt", d / "checkpoints" / "last.ckpt", "--n", "40")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["model"] == "dcign" and out["clamp"] is True and out["latent_azimuth"] == 0
    assert 0 <= out["spearman_azimuth"] <= 1 and out["rerender_mse"] >= 0
    for k in ("dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "factor_vae"):
        assert 0 <= out[k] <= 1, k
    assert "val/factor_vae" in final and "val/sap" in final  # validation logs them too

    r = in_process("disentangle", "--ckpt", tmp_path / "missing.ckpt")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = in_process("fit", "--config", "configs/dcign.yaml", "data.factor_batches=false", f"run.dir={tmp_path}")
    assert r.returncode == 2 and "data.factor_batches=true" in r.stderr and "Traceback" not in r.stderr


def test_epoch_due_with_a_step_budget_runs_every_n_epochs_and_at_the_end():
    from types import SimpleNamespace

    from lit_gen.callbacks.schedule import epoch_due

    # Lightning sets max_epochs=-1 for a run bounded by max_steps alone; that must not make every epoch "the last"
    def due(epoch, step, max_epochs=-1, max_steps=600):
        t = SimpleNamespace(current_epoch=epoch, max_epochs=max_epochs, max_steps=max_steps, global_step=step,
                            should_stop=False)
        return epoch_due(t, 4)

    assert [e for e in range(10) if due(e, 50 * (e + 1))] == [3, 7]
    assert due(9, 600)  # the step budget's end is measured, also off the every-n grid
    assert [e for e in range(5) if due(e, 10 * (e + 1), max_epochs=5, max_steps=-1)] == [3, 4]


@pytest.mark.parametrize("name", ["dcign", "dcign_faces", "dcign_sprites"])
def test_each_baseline_config_differs_from_its_dcign_config_only_in_the_clamp(name):
    from omegaconf import OmegaConf

    from lit_gen.config.load import load_config

    def flat(cfg, prefix=""):
        out = {}
        for k, v in cfg.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    clamped, baseline = (flat(OmegaConf.to_container(load_config(f"configs/{n}.yaml"))) for n in (name, f"{name}_baseline"))
    assert {k for k in clamped.keys() | baseline.keys() if clamped.get(k) != baseline.get(k)} == {"model.clamp"}
    assert clamped["model.clamp"] is True and baseline["model.clamp"] is False
