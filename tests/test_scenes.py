"""The embedded ``scenes`` data set: renderer API and the data source."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lit_gen.config.schema import DataConfig
from lit_gen.data.sources.scenes import ScenesConfig
from lit_gen.data import scenes as S
from lit_gen.data.sources import scenes as source
from lit_gen.errors import UserError
from helpers import in_process


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Render single-threaded here: on a shared, busy CPU, OpenMP threads that
    wait for each other make small batched ops 10-100x slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _cfg(**kw) -> DataConfig:
    sc = {k: kw.pop(k) for k in ("num_train", "num_test", "seed", "background") if k in kw}
    sc.setdefault("num_train", 64)
    sc.setdefault("num_test", 16)
    return DataConfig(scenes=ScenesConfig(**sc), **kw)


def _tensors(ds) -> dict:
    return ds.tensors


# ----------------------------------------------------------------------------- source
# (few builds and batched renders: every torch op counts when the CPU is shared)


@pytest.fixture(scope="module")
def built():
    return source.build(_cfg())


def test_build_is_deterministic_and_seeded(built):
    again = source.build(_cfg())
    for split in ("train", "val", "test"):
        ta, tb = _tensors(getattr(built, split)), _tensors(getattr(again, split))
        assert ta.keys() == tb.keys()
        for k in ta:
            assert torch.equal(ta[k], tb[k]), (split, k)
    # another data seed gives other scenes; item i does not depend on the count
    other = source.generate(8, source.split_seed(99, "train"), 32, 1, "plain")
    first = source.generate(8, source.split_seed(1234, "train"), 32, 1, "plain")
    assert not torch.equal(first["image"], other["image"])
    train_all = torch.cat([_tensors(built.train)["image"], _tensors(built.val)["image"]])
    assert any(torch.equal(first["image"][0], im) for im in train_all)
    # generate renders single-threaded and restores the thread count
    torch.set_num_threads(2)
    try:
        source.generate(2, 0, 16, 1, "plain")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    # train and test come from different streams
    assert source.split_seed(1234, "train") != source.split_seed(1234, "test")
    assert not torch.equal(_tensors(built.train)["factors"][:8], _tensors(built.test)["factors"][:8])


def test_split_sizes_and_info(built):
    assert (len(built.train), len(built.val), len(built.test)) == (58, 6, 16)
    info = built.info
    assert info.name == "scenes" and info.keys == {"image", "label", "factors", "attributes", "mask"}
    assert (info.channels, info.image_size) == (1, 32)
    assert info.num_classes == len(S.SHAPES) == 5
    assert info.factor_names == S.FACTOR_NAMES
    assert info.factor_names[:3] == ("azimuth", "elevation", "light")
    assert len(info.attribute_names) == 15
    assert info.attribute_groups == {"shape": (0, 5), "colour": (5, 11)}


def _check_splits(s, size, channels):
    assert s.info.channels == channels and s.info.image_size == size
    item = s.train[0]
    assert set(item) == {"image", "label", "factors", "attributes", "mask"}
    assert item["image"].shape == (channels, size, size) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (1, size, size) and item["mask"].dtype == torch.float32
    assert item["label"].dtype == torch.long and item["label"].shape == ()
    assert item["factors"].shape == (8,) and item["attributes"].shape == (15,)
    for ds in (s.train, s.val, s.test):
        t = _tensors(ds)
        img = t["image"].float() / 255
        assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.05
        m = t["mask"]
        assert set(m.unique().tolist()) <= {0, 1}
        assert (m.flatten(1).sum(1) > 0).all(), "every scene shows its object"
        assert torch.equal(t["label"], t["factors"][:, 3].long())
        attr = t["attributes"]
        for a, b in s.info.attribute_groups.values():
            assert torch.equal(attr[:, a:b].sum(1), torch.ones(len(attr)))
        assert attr[:, 11:].abs().max() <= 1.0
        f = S.factors_from_tensor(t["factors"])
        for k, (lo, hi) in S.FACTOR_RANGES.items():
            assert (f[k] >= lo - 1e-6).all() and (f[k] <= hi + 1e-6).all(), k


def test_items_grey_32(built):
    _check_splits(built, 32, 1)


def test_items_rgb_64_textured():
    s = source.build(_cfg(image_size=64, channels=3, background="textured", num_train=16, num_test=4))
    _check_splits(s, 64, 3)


def test_stored_factors_render_the_stored_images(built):
    t = _tensors(built.train)
    img, mask = S.render(S.factors_from_tensor(t["factors"][:8]), 32, 1, "plain")
    assert torch.equal((img * 255).round().to(torch.uint8), t["image"][:8])
    assert torch.equal(mask.to(torch.uint8), t["mask"][:8])
    assert torch.equal(S.attributes(S.factors_from_tensor(t["factors"][:8])), t["attributes"][:8])


def test_masks_do_not_depend_on_background(built):
    plain = _tensors(built.train)
    tex = _tensors(source.build(_cfg(background="textured", num_test=1)).train)
    assert torch.equal(plain["mask"], tex["mask"])
    assert torch.equal(plain["factors"], tex["factors"])
    # object pixels (away from antialiased edges) are the same; background differs
    inner = -F.max_pool2d(-plain["mask"].float(), 3, 1, 1) > 0
    assert torch.equal(plain["image"][inner], tex["image"][inner])
    outside = plain["mask"] == 0
    assert not torch.equal(plain["image"][outside], tex["image"][outside])


@pytest.mark.parametrize(
    "override,key",
    [
        ("data.scenes.background=stripes", "data.scenes.background"),
        ("data.channels=2", "data.channels"),
        ("data.image_size=8", "data.image_size=8"),
        ("data.scenes.num_train=0", "data.scenes.num_train"),
    ],
)
def test_user_errors(override, key):
    """Checked once, where the config is read: the types, choices and bounds, then the renderer's own rule."""
    from lit_gen.config import load_config

    with pytest.raises(UserError, match=key) as e:
        load_config(None, ["model.name=vae", override])
    assert "\n" not in str(e.value)
    if "background" in override:
        assert "plain" in str(e.value) and "textured" in str(e.value)


# ----------------------------------------------------------------------------- renderer


def test_sample_factors_prefix_stable():
    a = S.sample_factors(10, torch.Generator().manual_seed(5))
    b = S.sample_factors(100, torch.Generator().manual_seed(5))
    for k in a:
        assert torch.equal(a[k], b[k][:10]), k


def _bases(n=4):
    return [S.sample_factors(1, torch.Generator().manual_seed(s)) for s in range(n)]


@pytest.mark.parametrize("channels", [1, 3])
def test_every_factor_changes_the_image(channels):
    names = S.FACTOR_NAMES + ("intrinsic", "pose")
    sweeps = [S.vary(base, name, 5) for base in _bases() for name in names]
    still = [S.vary(base, None, 4) for base in _bases()]
    img, _ = S.render(S.concat(sweeps + still), 32, channels)  # one batched render
    tex, _ = S.render(S.concat([S.vary(base, "background", 5) for base in _bases()]), 32, channels, "textured")
    n_sweep = len(sweeps) * 5
    groups = list(img[:n_sweep].view(len(sweeps), 5, channels, 32, 32)) + list(tex.view(-1, 5, channels, 32, 32))
    labels = [name for _ in _bases() for name in names] + ["background"] * len(_bases())
    off = ~torch.eye(5, dtype=torch.bool)
    for name, g in zip(labels, groups):
        diff = (g[:, None] - g[None]).abs().flatten(2)
        # every pair of the sweep differs, including mirrored angles
        assert (diff.mean(2)[off] > 5e-4).all(), name
        assert (diff.amax(2)[off] > 0.01).all(), name
    for g in img[n_sweep:].view(len(still), 4, channels, 32, 32):
        assert (g == g[:1]).all(), "varying nothing changes nothing"


def test_vary_changes_only_the_chosen_factor():
    base = _bases(1)[0]
    g = torch.Generator().manual_seed(0)
    groups = {name: (name,) for name in S.FACTOR_NAMES}
    groups.update(intrinsic=S.INTRINSIC_FACTORS, pose=S.POSE_FACTORS, background=("texture",))
    for name, varied in groups.items():
        for gen in (g, None):
            f = S.vary(base, name, 16, gen)
            assert set(f) == set(S.FACTOR_NAMES) | {"texture"}
            for k, v in f.items():
                assert len(v) == 16
                same = (v == base[k][:1]).reshape(16, -1).all(1)
                if k in varied:
                    assert not same.all(), (name, k)
                else:
                    assert same.all(), (name, k)
    sweep = S.vary(base, "azimuth", 5)
    lo, hi = S.FACTOR_RANGES["azimuth"]
    assert torch.allclose(sweep["azimuth"], torch.linspace(lo, hi, 5))
    assert torch.equal(S.vary(base, "shape", 7)["shape"], torch.tensor([0, 1, 2, 3, 4, 0, 1]))
    with pytest.raises(ValueError):
        S.vary(base, "nope", 2)


def test_half_shade_darkens_the_right_and_the_top_half_and_moves_with_pose():
    """At the front view the right half and the top half are darker (the upper right twice); the default is one
    tone, and the shade changes neither the mask nor anything outside the body. Turned, the mid-lines move with the
    pose, in the same direction whatever the other angle."""
    base = {k: v[:1] for k, v in S.sample_factors(1, torch.Generator().manual_seed(2)).items()}
    base.update(shape=torch.tensor([1]), azimuth=torch.zeros(1), elevation=torch.zeros(1), light=torch.zeros(1),
                size=torch.tensor([0.5]), width=torch.ones(1), height=torch.ones(1))  # a front-lit ball
    one, m1 = S.render(base, 64, 1)
    assert torch.equal(one, S.render(base, 64, 1, half_shade=1.0)[0])
    two, m2 = S.render(base, 64, 1, half_shade=0.5)
    assert torch.equal(m1, m2) and torch.equal(one[m1 == 0], two[m1 == 0])
    ratio = (two / one.clamp(min=1e-6))[0, 0]
    body = one[0, 0] > 0.05
    rows, cols = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    q = 6  # pixels beside the mid-lines are left out: the split runs through them, and the marker sits on it
    up, down, left, right = rows < 32 - q, rows >= 32 + q, cols < 32 - q, cols >= 32 + q
    for where, want in (((up & right), 0.25), ((up & left), 0.5), ((down & right), 0.5), ((down & left), 1.0)):
        px = body & where
        assert px.sum() > 50
        assert torch.allclose(ratio[px], torch.full_like(ratio[px], want), atol=1e-4), want

    def darkened(factor, other, value):
        f = S.vary(dict(base, **{other: torch.tensor([value])}), factor, 5)
        shaded, plain = S.render(f, 32, 1, half_shade=0.5)[0], S.render(f, 32, 1)[0]
        return (shaded < plain - 1e-3).flatten(1).float().sum(1)

    # a positive azimuth turns the front, and with it the dark right half, away to the viewer's right;
    # a rising camera (positive elevation) sees more of the dark top half; both at either sign of the other angle
    for value in (-0.5, 0.5):
        az, el = darkened("azimuth", "elevation", value), darkened("elevation", "azimuth", value)
        assert (az[1:] < az[:-1]).all(), (value, az)
        assert (el[1:] > el[:-1]).all(), (value, el)
    # the value is checked once, where the config is read
    r = in_process("fit", "--config", "configs/vae.yaml", "data.scenes.half_shade=0.0")
    assert r.returncode == 2 and r.stderr.startswith("error: data.scenes.half_shade=0.0") and r.stderr.count("\n") == 1


def test_render_api():
    f = S.sample_factors(6, torch.Generator().manual_seed(1))
    img, mask = S.render(f, 24, 3, "textured")
    assert img.shape == (6, 3, 24, 24) and mask.shape == (6, 1, 24, 24)
    # chunking and the tensor round trip do not change the pictures
    img2, mask2 = S.render(S.factors_from_tensor(S.factors_to_tensor(f), f["texture"]), 24, 3, "textured", chunk_rays=999)
    assert torch.allclose(img, img2) and torch.equal(mask, mask2)
    # one scene given as scalars, arbitrary (out of range) values
    one = {k: float(v[0]) for k, v in f.items() if k != "texture"}
    one.update(azimuth=3.0, elevation=-1.4, light=2.5, size=0.2)
    im, m = S.render(one, 32, 1, "plain")
    assert im.shape == (1, 1, 32, 32) and torch.isfinite(im).all() and m.sum() > 0
    # attributes: one-hot groups, continuous in [-1, 1]
    att = S.attributes(f)
    assert att.shape == (6, len(S.ATTRIBUTE_NAMES))
    assert torch.equal(att[:, :5].argmax(1), f["shape"]) and torch.equal(att[:, 5:11].argmax(1), f["colour"])
