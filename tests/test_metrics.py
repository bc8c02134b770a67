"""Sample-quality metrics (FID/IS/KID on domain features, blurriness), DDP equality, IW-NLL, inception wiring."""

import json
import math
import os
import socket

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from helpers import need_data
from lit_gen.config.schema import DataConfig, MetricsConfig
from lit_gen.errors import UserError
from lit_gen.metrics import feature_cache as fc
from lit_gen.metrics import feature_extractor as fx
from lit_gen.metrics import feature_net as fnet
from lit_gen.metrics.blur import Blurriness, gaussian_blur, laplacian_variance
from lit_gen.metrics.feature_extractor import domain_extractor
from lit_gen.metrics.feature_net import DomainNet, DomainNetConfig
from lit_gen.metrics.likelihood import iw_log_likelihood, iw_nll, plan
from lit_gen.metrics.sample_quality import SampleQuality, measure

# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """2 cores shared with other jobs: one intra-op thread is faster than two contending ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class PoolModel(torch.nn.Module):
    """A stand-in generative model: ``sample`` hands out images from a pool, ``reconstruct`` is a function."""

    def __init__(self, pool: torch.Tensor, recon=None):
        super().__init__()
        self.pool = pool
        self.recon = recon
        self.pos = 0
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # gives the model a device

    def sample(self, n, generator=None):
        out = self.pool[self.pos : self.pos + n]
        self.pos += n
        return out

    def reconstruct(self, x):
        return None if self.recon is None else self.recon(x)


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i]}


def random_domain_extractor(channels=1, size=16, classes=10, seed=0):
    torch.manual_seed(seed)
    net = DomainNet(channels, size, classes, (8, 16), 32).eval()
    return domain_extractor(net)


def smooth_images(n, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size // 4, size // 4, generator=g)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


# --------------------------------------------------------------------------- MNIST fixtures (session: trained once)


@pytest.fixture(scope="session")
def mnist_splits():
    data = need_data("MNIST/raw")
    from lit_gen.data.datamodule import GenerativeDataModule

    cfg = OmegaConf.structured(DataConfig)
    cfg.name, cfg.root, cfg.image_size = "mnist", str(data), 28
    dm = GenerativeDataModule(cfg)
    dm.setup()
    return cfg, dm.splits


@pytest.fixture(scope="session")
def mnist_extractor(mnist_splits, tmp_path_factory):
    """The domain classifier on 10k MNIST images, 1 epoch; cached in a session tmp dir."""
    cfg, splits = mnist_splits
    cache = tmp_path_factory.mktemp("lit_gen_cache")
    net_cfg = DomainNetConfig(epochs=1, max_train=10000, batch_size=64, lr=5e-3)
    net, meta = fc.ensure_domain_net(cfg, net_cfg, str(cache), splits=splits, progress=False)
    assert meta["test_accuracy"] > 0.9, meta
    # second call: loaded from the cache, not retrained
    net2, meta2 = fc.ensure_domain_net(cfg, net_cfg, str(cache), splits=splits, progress=False)
    assert meta2["path"] == meta["path"] and meta2["test_accuracy"] == meta["test_accuracy"]
    return domain_extractor(net, meta)


def _images(ds, n, offset=0):
    return torch.stack([ds[i]["image"] for i in range(offset, offset + n)])


# --------------------------------------------------------------------------- blurriness


def test_blur_matches_hand_computation():
    img = torch.tensor([[0.0, 0.0, 0.0, 0.0],
                        [0.0, 1.0, 0.0, 0.0],
                        [0.0, 0.0, 0.5, 0.0],
                        [0.0, 0.0, 0.0, 0.0]]).view(1, 1, 4, 4)
    # valid 3x3 Laplacian at the 4 interior pixels (row, col) = (1,1), (1,2), (2,1), (2,2):
    # (1,1): 0+0+0+0 - 4*1 = -4 ; (1,2): up 0, left 1, right 0, down 0.5 -> 1.5 ; (2,1): up 1, left 0, right 0.5,
    # down 0 -> 1.5 ; (2,2): up 0, left 0, right 0, down 0 - 4*0.5 -> -2
    lap = torch.tensor([-4.0, 1.5, 1.5, -2.0])
    expected = ((lap - lap.mean()) ** 2).mean()  # population variance
    assert laplacian_variance(img).item() == pytest.approx(expected.item(), rel=1e-12)

    # RGB goes through ITU-R 601 luma first; the metric is the mean over images, over several updates
    rgb = torch.stack([img[0, 0] * 0.5, img[0, 0], img[0, 0] * 0.0]).unsqueeze(0)
    luma = 0.299 * 0.5 + 0.587
    m = Blurriness()
    m.update(rgb)
    m.update(torch.zeros(2, 3, 4, 4))
    assert m.compute().item() == pytest.approx(expected.item() * luma**2 / 3, rel=1e-9)
    assert m.total.dtype == torch.float64 and m.count.item() == 3


def test_blur_ratio_real_is_one_blurred_below_one(mnist_splits):
    _, splits = mnist_splits
    real_test, real_train = _images(splits.test, 2000), _images(splits.train, 2000)
    q = SampleQuality(None)
    q.update_real(real_test)
    q.update_fake(real_train)
    same = q.compute("val", n_fake=2000, n_real=2000)["val/blur_ratio"]
    q.reset_fake()
    q.update_fake(gaussian_blur(real_train))
    blurred = q.compute("val", n_fake=2000, n_real=2000)["val/blur_ratio"]
    assert 0.93 < same < 1.07, same
    assert blurred < 0.5, blurred


# --------------------------------------------------------------------------- FID / IS / KID on domain features


def test_fid_domain_separates_real_from_noise_and_blur(mnist_splits, mnist_extractor):
    _, splits = mnist_splits
    n = 2000
    test_ds = splits.test
    train = _images(splits.train, n)
    noise = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    q = SampleQuality(mnist_extractor, seed=0, kid_subsets=10)
    results = {}
    for name, pool in (("train", train), ("noise", noise), ("blurred", gaussian_blur(train)),
                       ("recon_identity", train)):
        model = PoolModel(pool, recon=(lambda x: x) if name == "recon_identity" else None)
        results[name] = measure(model, test_ds, q, n, prefix="val", seed=0, progress=False)
    assert q.real_done and int(q.fid.real_features_num_samples) == n  # real statistics computed once, reused
    r = results["train"]
    for key in ("val/fid_domain", "val/fid_domain_n", "val/fid_domain_n_real", "val/is_domain", "val/is_domain_std",
                "val/kid_domain", "val/kid_domain_std", "val/blur", "val/blur_real", "val/blur_ratio"):
        assert key in r, key
    assert r["val/fid_domain_n"] == n and r["val/fid_domain_n_real"] == n
    assert "val/blur_ratio_recon" not in r  # this model has no reconstructions
    fid_real, fid_noise, fid_blur = r["val/fid_domain"], results["noise"]["val/fid_domain"], results["blurred"]["val/fid_domain"]
    assert fid_real * 10 < fid_blur and fid_real * 10 < fid_noise, (fid_real, fid_blur, fid_noise)
    assert r["val/kid_domain"] < results["blurred"]["val/kid_domain"]
    assert r["val/is_domain"] > 5 > results["noise"]["val/is_domain"]  # ten recognisable classes vs noise
    assert results["recon_identity"]["val/blur_ratio_recon"] == pytest.approx(1.0, rel=1e-9)
    assert results["recon_identity"]["val/fid_domain"] == pytest.approx(fid_real, rel=1e-6)  # same z, same value


def test_measure_is_reproducible_and_leaves_global_rng_alone():
    ext = random_domain_extractor()
    real = ListDataset(smooth_images(300, seed=1))
    pool = smooth_images(600, seed=2)
    q = SampleQuality(ext, seed=3, kid_subsets=5)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = measure(PoolModel(pool[:300]), real, q, 300, progress=False)
    after = torch.rand(1)
    b = measure(PoolModel(pool[:300]), real, q, 300, progress=False)
    assert before == after  # the RNG stream of training is untouched
    assert a == b  # IS and KID draw permutations from a fixed seed
    assert a["val/kid_domain_std"] >= 0 and a["val/fid_domain_n"] == 300


# --------------------------------------------------------------------------- DDP: 2 gloo processes == 1 process


def _ddp_data():
    real = smooth_images(203, seed=10)  # odd counts: uneven shards
    fake = gaussian_blur(smooth_images(157, seed=11), sigma=0.8)
    return real, fake


def _fill(q, real, fake, rank, world, batch=40):
    r, f = real[rank::world], fake[rank::world]
    for s in range(0, len(r), batch):
        q.update_real(r[s : s + batch])
    for s in range(0, len(f), batch):
        q.update_fake(f[s : s + batch])
        q.update_recon(f[s : s + batch] * 0.5)
    return q.compute("val", n_fake=len(fake), n_real=len(real))


def _ddp_worker(rank, world, port, net_path, out_path):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        net = DomainNet(1, 16, 10, (8, 16), 32)
        net.load_state_dict(torch.load(net_path, weights_only=True))
        real, fake = _ddp_data()
        values = _fill(SampleQuality(domain_extractor(net.eval()), seed=0), real, fake, rank, world)
        gathered = [None] * world
        dist.all_gather_object(gathered, values)
        if rank == 0:
            with open(out_path, "w") as f:
                json.dump(gathered, f)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process(tmp_path):
    import torch.multiprocessing as mp

    ext = random_domain_extractor()
    net_path = tmp_path / "net.pt"
    torch.save(ext.backbone.state_dict(), net_path)
    out = tmp_path / "ddp.json"
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(net_path), str(out)), nprocs=2, join=True)
    per_rank = json.loads(out.read_text())
    real, fake = _ddp_data()
    single = _fill(SampleQuality(ext, seed=0), real, fake, 0, 1)
    assert per_rank[0] == per_rank[1]  # compute ran (and synced) on both ranks
    ddp = per_rank[0]
    for key in ("val/fid_domain", "val/is_domain", "val/blur", "val/blur_real", "val/blur_ratio", "val/blur_recon",
                "val/precision_domain", "val/recall_domain", "val/density_domain", "val/coverage_domain"):
        assert ddp[key] == pytest.approx(single[key], rel=1e-6, abs=1e-12), key
    assert single["val/fid_domain"] > 0


# --------------------------------------------------------------------------- importance-weighted NLL


def _tiny_vae():
    from lit_gen.spec import DataSpec
    from lit_gen.models.optim import OptimConfig
    from lit_gen.models.vae import VAE, VAEConfig

    cfg = VAEConfig(net="mlp", latent_dim=3, hidden=[16], activation="tanh", widths=[8], sigma=0.3)
    torch.manual_seed(0)
    vae = VAE(cfg, OptimConfig(), DataSpec(channels=1, image_size=6, pixel_mean=[0.3] * 36)).eval()
    return vae


def test_iw_nll_k1_is_elbo_in_expectation_and_k_large_is_tighter():
    vae = _tiny_vae()
    x = (torch.rand(8, 1, 6, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    torch.manual_seed(1)
    with torch.no_grad():
        vae.model_cfg.mc_samples = 20000
        elbo = vae.loss_terms(x)["elbo"]  # (8,), Monte Carlo over 20k samples (KL in closed form)
        vae.model_cfg.mc_samples = 1
        reps = 4000
        ll_k1 = iw_log_likelihood(vae, x.repeat(reps, 1, 1, 1), k=1, budget=4096).view(reps, 8)
    se = ll_k1.std(0) / math.sqrt(reps)
    assert ((ll_k1.mean(0) - elbo).abs() < 4 * se + 0.1).all(), (ll_k1.mean(0), elbo, se)

    ds = ListDataset(x)
    rk = iw_nll(vae, ds, k=2000, budget=512, progress=False)
    assert rk["test/nll_k"] == 2000 and rk["test/nll_n"] == 8
    neg_elbo = -elbo.mean().item()
    # the importance-weighted bound is tighter: NLL_k <= -ELBO
    assert rk["test/nll"] <= neg_elbo
    assert rk["test/nll"] <= -ll_k1.mean().item()
    assert rk["test/nll_bpd"] == pytest.approx(rk["test/nll"] / (36 * math.log(2)))
    # fixed seed: reproducible
    assert iw_nll(vae, ds, k=2000, budget=512, progress=False) == rk


def test_iw_nll_plan_bounds_the_work_per_pass():
    assert plan(5000, 1024) == (1024, 1)
    assert plan(10, 1024) == (10, 102)
    for k, budget in ((5000, 1024), (7, 100), (1, 1), (300, 299)):
        chunk, sub = plan(k, budget)
        assert chunk * sub <= max(budget, 1) and chunk >= 1 and sub >= 1


# --------------------------------------------------------------------------- Inception: wiring without weights


def test_inception_without_weights_is_one_line_user_error(tmp_path):
    m = OmegaConf.structured(MetricsConfig)
    m.features, m.cache_dir = "inception", str(tmp_path)
    with pytest.raises(UserError) as e:
        fx.build_extractor(m, OmegaConf.structured(DataConfig))
    msg = str(e.value)
    assert "\n" not in msg and "metrics.inception_weights=PATH" in msg and fx.INCEPTION_FILE in msg
    assert str(tmp_path / "weights") in msg  # says where to put the file
    m.inception_weights = str(tmp_path / "missing.pth")
    with pytest.raises(UserError, match="missing.pth: no such file"):
        fx.build_extractor(m, OmegaConf.structured(DataConfig))


def test_inception_weights_path_is_passed_to_torch_fidelity(tmp_path, monkeypatch):
    """The Inception path through torch-fidelity's public FeatureExtractorInceptionV3, with a stand-in network (the
    FID weights are not downloaded)."""
    import sys
    import types

    seen = {}

    class FakeInception(torch.nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path=None):
            super().__init__()
            seen.update(name=name, features_list=features_list, path=feature_extractor_weights_path)

        def forward(self, x):
            assert x.dtype == torch.uint8 and x.shape[1] == 3
            f = x.float().mean(dim=(2, 3))  # (N, 3)
            return f.repeat(1, 683)[:, :2048], f.repeat(1, 336)

    fidelity = types.ModuleType("torch_fidelity")
    extractor_module = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    extractor_module.FeatureExtractorInceptionV3 = FakeInception
    monkeypatch.setitem(sys.modules, "torch_fidelity", fidelity)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", extractor_module)
    weights = tmp_path / fx.INCEPTION_FILE
    weights.write_bytes(b"not really weights")
    monkeypatch.setattr(fx, "INCEPTION_SHA256", fx.file_sha256(weights))  # the stand-in passes the check
    monkeypatch.setattr(fx, "_fidelity_available", lambda: True)
    m = OmegaConf.structured(MetricsConfig)
    m.features, m.inception_weights = "inception", str(weights)
    ext = fx.build_extractor(m, OmegaConf.structured(DataConfig))
    assert seen["path"] == str(weights) and seen["features_list"] == ["2048", "logits_unbiased"]
    assert ext.name == "inception" and ext.num_features == 2048
    q = SampleQuality(ext, kid_subsets=2)
    q.update_real(smooth_images(6, seed=0))
    q.update_fake(smooth_images(6, seed=1))
    assert q.fid.fake_features_sum.shape == (2048,) and int(q.fid.real_features_num_samples) == 6
    # torchmetrics' FID on 2048-d features needs the eigenvalues of a 2048x2048 matrix, slow on a CPU: stub it
    monkeypatch.setattr(q.fid, "compute", lambda: torch.tensor(1.5))
    out = q.compute("test", n_fake=6, n_real=6)
    assert out["test/fid_inception"] == 1.5 and "test/is_inception" in out and "test/kid_inception" in out
    assert ext.id == "inception:" + fx.INCEPTION_SHA256[:12]


def test_inception_weights_of_another_file_are_refused_by_their_sha256(tmp_path, monkeypatch):
    weights = tmp_path / fx.INCEPTION_FILE  # the right name, the wrong bytes
    weights.write_bytes(b"a different network")
    monkeypatch.setattr(fx, "_fidelity_available", lambda: True)
    m = OmegaConf.structured(MetricsConfig)
    m.features, m.inception_weights = "inception", str(weights)
    with pytest.raises(UserError) as e:
        fx.build_extractor(m, OmegaConf.structured(DataConfig))
    msg = str(e.value)
    assert "\n" not in msg and fx.file_sha256(weights)[:16] in msg and fx.INCEPTION_SHA256[:16] in msg


# --------------------------------------------------------------------------- cache key and config


def test_cache_key_follows_images_not_batch_size(tmp_path, monkeypatch):
    d = OmegaConf.structured(DataConfig)
    d.name, d.root = "mnist", str(tmp_path)
    base = fc.cache_path(d, DomainNetConfig(), str(tmp_path))
    assert base.parent == tmp_path / "features" and base.name.startswith("mnist-")
    d2 = d.copy()
    d2.batch_size = 7
    assert fc.cache_path(d2, DomainNetConfig(), str(tmp_path)) == base
    d3 = d.copy()
    d3.image_size = 28
    assert fc.cache_path(d3, DomainNetConfig(), str(tmp_path)) != base
    assert fc.cache_path(d, DomainNetConfig(epochs=3), str(tmp_path)) != base
    monkeypatch.setenv("LIT_GEN_CACHE", str(tmp_path / "env"))  # not del: the session's cache must stay set
    assert fc.cache_root(None) == tmp_path / "env"
    assert fc.cache_root(str(tmp_path / "cfg")) == tmp_path / "cfg"


@pytest.mark.parametrize("override, key", [("metrics.features=fancy", "metrics.features"),
                                           ("metrics.nll_k=-1", "metrics.nll_k"),
                                           ("metrics.domain_epochs=0", "metrics.domain_epochs")])
def test_metrics_config_is_range_checked(override, key):
    from lit_gen.config import load_config

    with pytest.raises(UserError, match=key):
        load_config(None, ["model.name=vae", override])


def test_reference_statistics_are_cached_and_give_the_same_numbers(tmp_path, monkeypatch):
    """A second evaluation reads the real statistics from disk instead of feeding the real images again."""
    from lit_gen.metrics.sample_quality import measure, reference_path

    net = fnet.DomainNet(1, 16, 3, widths=(4, 8), feat_dim=12)
    ext = fx.FeatureExtractor("domain", net, 12, 3, info={"sha256": "ab" * 32})

    class Model(torch.nn.Module):
        def sample(self, n, generator=None):
            return torch.rand(n, 1, 16, 16, generator=generator)

        def reconstruct(self, x):
            return None

    real = [{"image": img} for img in smooth_images(40, seed=3, size=16)]
    path = reference_path(tmp_path, {"name": "toyimgs"}, "test", ext.id, 40, 0)
    first = SampleQuality(ext, kid_subsets=2)
    first.reference_cache = path
    a = measure(Model(), real, first, 40, prefix="test", progress=False)
    assert path.is_file()
    fed = []
    second = SampleQuality(ext, kid_subsets=2)
    second.reference_cache = path
    monkeypatch.setattr(second, "update_real", lambda x: fed.append(x))
    b = measure(Model(), real, second, 40, prefix="test", progress=False)
    assert not fed and b == pytest.approx(a)
    assert reference_path(tmp_path, {"name": "toyimgs"}, "test", "domain:other", 40, 0) != path


def test_feature_memo_works_on_inference_tensors():
    """Inside one_batch the backbone runs once per batch, also on Lightning's test phase (inference mode);
    outside it every call runs the backbone, so nothing stale is ever returned."""
    net = fnet.DomainNet(1, 16, 3, widths=(4, 8), feat_dim=12)
    calls = []
    ext = fx.FeatureExtractor("domain", net, 12, 3,
                              forward_both=lambda x: (calls.append(1), net.forward_both(x))[1])
    with torch.inference_mode():
        x = smooth_images(4, seed=1)
        with ext.one_batch():
            a = ext.features_module()(x)
            b = ext.logits_module()(x)
    assert len(calls) == 1 and a.shape == (4, 12) and b.shape == (4, 3)
    ext.features_module()(x)
    ext.features_module()(x)
    assert len(calls) == 3