"""The domain feature net is the same on every machine: deterministic training, a weights hash every result
records, and one exported file that many machines can score with."""

import pytest
import torch
from omegaconf import OmegaConf

from helpers import in_process
from lit_gen.config.schema import DataConfig, MetricsConfig
from lit_gen.errors import UserError
from lit_gen.metrics import feature_cache as fc
from lit_gen.metrics import feature_extractor as fx
from lit_gen.metrics import feature_net as fnet
from lit_gen.metrics.sample_quality import SampleQuality

SMALL = fnet.DomainNetConfig(min_steps=25, max_train=800)


def scenes_cfg(**scenes):
    d = OmegaConf.structured(DataConfig)
    d.name = "scenes"
    d.scenes.num_train, d.scenes.num_test = 800, 200
    for k, v in scenes.items():
        d.scenes[k] = v
    return d


@pytest.fixture(scope="module")
def scenes_splits():
    from lit_gen.data.datamodule import GenerativeDataModule

    dm = GenerativeDataModule(scenes_cfg())
    dm.setup("fit")
    return dm.splits


def fid_of(net, meta, fake, real) -> float:
    q = SampleQuality(fx.domain_extractor(net, meta), kid_subsets=2)
    q.update_real(real)
    q.update_fake(fake)
    return q.compute("val", n_fake=len(fake), n_real=len(real))["val/fid_domain"]


def test_nets_trained_at_one_and_two_threads_are_bit_identical(tmp_path, scenes_splits):
    before = torch.get_num_threads()
    nets = []
    try:
        for threads, cache in ((1, tmp_path / "c1"), (2, tmp_path / "c2")):
            torch.set_num_threads(threads)
            nets.append(fc.ensure_domain_net(scenes_cfg(), SMALL, str(cache), splits=scenes_splits,
                                                echo=lambda m: None, progress=False))
            assert torch.get_num_threads() == threads  # the caller's setting is restored after training
    finally:
        torch.set_num_threads(before)
    (a, meta_a), (b, meta_b) = nets
    for (key, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), key
    assert meta_a["sha256"] == meta_b["sha256"] == fnet.weights_sha256(a)
    g = torch.Generator().manual_seed(0)
    real = torch.stack([scenes_splits.train[i]["image"] for i in range(100)])
    fake = (real[torch.randperm(100, generator=g)] + 0.1 * torch.rand(real.shape, generator=g)).clamp(0, 1)
    assert fid_of(a, meta_a, fake, real) == fid_of(b, meta_b, fake, real)
    # the hash follows the weights: one changed value changes it
    with torch.no_grad():
        b.fc[0].weight[0, 0] += 1e-6
    assert fnet.weights_sha256(b) != meta_a["sha256"]


def test_export_and_domain_weights_score_with_the_exported_net(tmp_path, scenes_splits, monkeypatch):
    cache, out = tmp_path / "cache", tmp_path / "net.pt"
    monkeypatch.setattr(fc, "net_config", lambda m=None: SMALL)  # the tiny net, through the CLI
    ran = in_process("features", "--data", "scenes", "data.scenes.num_train=800", "data.scenes.num_test=200",
                     f"metrics.cache_dir={cache}", "--export", out)
    assert ran.returncode == 0, ran.stderr
    digest = fnet.weights_sha256(fc.read_net(out)[0])
    assert f"weights {digest[:12]}" in ran.stdout and out.is_file()
    m = OmegaConf.structured(MetricsConfig)
    m.domain_weights = str(out)
    m.cache_dir = str(tmp_path / "empty")  # nothing cached there: the file is what is used
    ext = fx.build_extractor(m, scenes_cfg(), splits=scenes_splits, echo=lambda s: None)
    assert ext.id == f"domain:{digest[:12]}"
    assert not (tmp_path / "empty").exists()


def test_bad_domain_weights_get_one_line(tmp_path, scenes_splits):
    m = OmegaConf.structured(MetricsConfig)
    m.domain_weights = str(tmp_path / "missing.pt")
    with pytest.raises(UserError, match=r"metrics.domain_weights=.*missing.pt: no such file"):
        fx.build_extractor(m, scenes_cfg(), splits=scenes_splits)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    m.domain_weights = str(junk)
    with pytest.raises(UserError, match="not a lit_gen domain feature network"):
        fx.build_extractor(m, scenes_cfg(), splits=scenes_splits)
    other = tmp_path / "other.pt"  # a net for another image size
    net = fnet.DomainNet(1, 64, int(scenes_splits.info.num_classes))
    fc.save_net(other, net, {"channels": 1, "image_size": 64, "num_classes": int(scenes_splits.info.num_classes),
                             "net": {"widths": [16, 32, 64], "feat_dim": 128}})
    m.domain_weights = str(other)
    with pytest.raises(UserError) as e:
        fx.build_extractor(m, scenes_cfg(), splits=scenes_splits)
    assert "\n" not in str(e.value) and "(1, 64," in str(e.value) and "(1, 32," in str(e.value)


def test_export_to_a_missing_folder_is_one_line(tmp_path):
    ran = in_process("features", "--data", "scenes", "--export", tmp_path / "no" / "such" / "net.pt")
    assert ran.returncode == 2 and "--export" in ran.stderr and len(ran.stderr.strip().splitlines()) == 1


def test_the_cache_key_follows_the_section_of_the_source_in_use():
    """A feature net trained on one sprites split must not be reused for another (data.sprites.seed picks the
    val/test items); a section of a source not in use changes nothing."""
    def key(name, *dotlist):
        cfg = OmegaConf.merge(OmegaConf.structured(DataConfig), OmegaConf.from_dotlist([f"name={name}", *dotlist]))
        return fc.data_key(cfg)

    assert key("sprites") != key("sprites", "sprites.seed=7")
    assert key("sprites") != key("sprites", "sprites.num_test=100")
    assert key("scenes") != key("scenes", "scenes.num_train=100")
    assert key("scenes") == key("scenes", "sprites.seed=7", "sprites.num_val=5")
    assert key("sprites") == key("sprites", "scenes.num_train=100", "batch_size=7")


def test_the_sample_quality_callback_trains_its_net_in_setup_not_in_its_constructor(tmp_path, scenes_splits,
                                                                                     monkeypatch):
    from types import SimpleNamespace

    from lit_gen.callbacks.sample_quality_callback import SampleQualityCallback
    from lit_gen.config.schema import RootConfig

    monkeypatch.setattr(fx, "net_config", lambda m=None: SMALL)  # the tiny net
    cfg = OmegaConf.structured(RootConfig)
    cfg.data = scenes_cfg()
    cfg.metrics.features, cfg.metrics.cache_dir = "domain", str(tmp_path / "cache")
    said = []
    callback = SampleQualityCallback(cfg, echo=said.append)
    assert callback.extractor is None and not (tmp_path / "cache").exists() and not said  # nothing built yet
    trainer = SimpleNamespace(datamodule=SimpleNamespace(splits=scenes_splits), is_global_zero=False)
    callback.setup(trainer, None, "fit")
    assert callback.extractor is not None and callback.extractor.id.startswith("domain:")
    assert any("training the domain feature network" in s for s in said)
    assert list((tmp_path / "cache" / "features").glob("scenes-*.pt"))
    first = callback.extractor
    callback.setup(trainer, None, "test")  # the test phase after fit: the same net, not a second one
    assert callback.extractor is first
