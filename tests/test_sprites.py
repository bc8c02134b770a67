"""``data.name=sprites``: dSprites' factor grid, rendered procedurally or read from a file of the official layout."""

import math

import numpy as np
import pytest
import torch

from helpers import REPO
from lit_gen.config import load_config
from lit_gen.data.sources import sprites as S
from lit_gen.errors import UserError


def data_cfg(root, *more):
    """The data section of a sprites config whose ``data.root`` is ``root`` (an empty folder: procedural)."""
    overrides = ["data.name=sprites", f"data.root={root}", "data.sprites.num_val=50", "data.sprites.num_test=30",
                 *more]
    return load_config(str(REPO / "configs" / "vae.yaml"), overrides).data


def one(shape=0, scale=1.0, orientation=0.0, pos_x=0.5, pos_y=0.5):
    return torch.tensor([[float(shape), scale, orientation, pos_x, pos_y]])


def centre_of_mass(img: torch.Tensor) -> torch.Tensor:
    """(row, column) of a (1, S, S) image's mass."""
    s = img.shape[-1]
    grid = torch.arange(s, dtype=torch.float32)
    m = img[0]
    return torch.stack([(m.sum(1) * grid).sum(), (m.sum(0) * grid).sum()]) / m.sum()


@pytest.fixture(scope="module")
def grid_splits(tmp_path_factory):
    return S.build(data_cfg(tmp_path_factory.mktemp("empty")))


# ----------------------------------------------------------------------------- the renderer


def test_render_is_deterministic_binary_and_independent_of_threads():
    f = S.classes_to_factors(S.index_to_classes(torch.randint(S.GRID_LEN, (64,), generator=torch.Generator()
                                                                .manual_seed(0))))
    a = S.render(f)
    assert a.shape == (64, 1, 64, 64) and a.dtype == torch.float32
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert (a.flatten(1).sum(1) > 0).all()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        b = S.render(f)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(a, b) and torch.equal(a, S.render(f))


def test_shapes_differ_and_scale_grows_the_sprite():
    masks = [S.render(one(shape=k))[0] for k in range(3)]
    for i in range(3):
        for j in range(i + 1, 3):
            assert (masks[i] != masks[j]).sum() > 10
    for k in range(3):
        assert S.render(one(shape=k, scale=1.0)).sum() > 3 * S.render(one(shape=k, scale=0.5)).sum()
    side = S.render(one(shape=0))[0, 0].sum(0).max()  # the square's side at scale 1, in pixels
    assert 64 / 4 <= side <= 64 / 3


def test_pos_x_moves_right_and_pos_y_moves_down():
    left, right = S.render(torch.cat([one(shape=2, pos_x=0.2), one(shape=2, pos_x=0.8)]))
    (r0, c0), (r1, c1) = centre_of_mass(left), centre_of_mass(right)
    assert c1 > c0 + 20 and abs(r1 - r0) < 0.5
    top, bottom = S.render(torch.cat([one(shape=1, pos_y=0.0), one(shape=1, pos_y=1.0)]))
    assert centre_of_mass(bottom)[0] > centre_of_mass(top)[0] + 30


def test_every_sprite_stays_inside_the_image():
    """The margins: at scale 1, any orientation and the extreme positions, the border pixels stay black."""
    rows = [[k, 1.0, o, x, y] for k in range(3) for o in S.ORIENTATIONS for x in (0.0, 1.0) for y in (0.0, 1.0)]
    img = S.render(torch.tensor(rows))[:, 0]
    assert (img.flatten(1).sum(1) > 0).all()
    for border in (img[:, 0], img[:, -1], img[:, :, 0], img[:, :, -1]):
        assert border.sum() == 0


def test_orientation_rotates():
    square = [S.render(one(orientation=o)) for o in (0.0, math.pi / 4, math.pi / 2)]
    assert (square[0] != square[1]).sum() > 20
    assert (square[0] != square[2]).sum() <= 4
    heart = [S.render(one(shape=2, orientation=o)) for o in (0.0, math.pi / 2, math.pi)]
    assert (heart[0] != heart[1]).sum() > 20 and (heart[0] != heart[2]).sum() > 20
    # counter-clockwise as seen: a quarter turn takes the heart's lobes (its top half) to the left
    upper = heart[0][0, 0, :32].sum() - heart[0][0, 0, 32:].sum()
    left = heart[1][0, 0, :, :32].sum() - heart[1][0, 0, :, 32:].sum()
    assert upper > 0 and left > 0


# ----------------------------------------------------------------------------- the grid


def test_grid_index_round_trip_and_order():
    assert S.GRID_LEN == 737_280 and S.GRID_SIZES == (3, 6, 40, 32, 32)
    idx = torch.randint(S.GRID_LEN, (1000,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(S.classes_to_index(S.index_to_classes(idx)), idx)
    assert S.index_to_classes(torch.tensor([1]))[0].tolist() == [0, 0, 0, 0, 1]  # pos_y fastest
    assert S.index_to_classes(torch.tensor([S.GRID_LEN - 1]))[0].tolist() == [2, 5, 39, 31, 31]
    assert S.index_to_classes(torch.tensor([40 * 32 * 32 * 6]))[0].tolist() == [1, 0, 0, 0, 0]  # shape slowest
    f = S.classes_to_factors(torch.tensor([[2, 5, 39, 31, 0]]))[0]
    assert f.tolist() == pytest.approx([2.0, 1.0, 2 * math.pi * 39 / 40, 1.0, 0.0])


def test_build_splits_are_disjoint_seeded_and_sized(grid_splits, tmp_path):
    sp = grid_splits
    assert (len(sp.train), len(sp.val), len(sp.test)) == (S.GRID_LEN - 80, 50, 30)
    every = torch.cat([sp.train.items, sp.val.items, sp.test.items])
    assert torch.equal(every.sort().values, torch.arange(S.GRID_LEN))
    assert not hasattr(sp.train, "tensors") and sp.train.factors.shape == (S.GRID_LEN - 80, 5)
    assert torch.equal(sp.val.factors, S.classes_to_factors(S.index_to_classes(sp.val.items)))
    info = sp.info
    assert info.name == "sprites" and info.num_classes == 3 and info.binary and info.pooled
    assert info.factor_names == S.FACTOR_NAMES and tuple(info.factor_groups) == S.SPRITES_GROUPS
    assert info.keys == frozenset({"image", "label", "factors"})
    again = S.build(data_cfg(tmp_path))
    assert torch.equal(again.val.items, sp.val.items) and torch.equal(again.test.items, sp.test.items)
    other = S.build(data_cfg(tmp_path, "data.sprites.seed=7"))
    assert not torch.equal(other.val.items, sp.val.items)


def test_batched_fetch_equals_item_fetch(grid_splits):
    ds = grid_splits.val
    idx = [3, 0, 17, 49]
    batch = ds.__getitems__(idx)
    for i, item in zip(idx, batch):
        single = ds[i]
        assert set(item) == {"image", "label", "factors"}
        for k in item:
            assert torch.equal(item[k], single[k])
        assert item["image"].shape == (1, 32, 32) and item["label"].dtype == torch.long
        assert item["label"] == int(item["factors"][0])
        assert torch.equal(item["image"], S.render(item["factors"][None], 32)[0])


def test_factor_renderer_vary_and_snap(tmp_path):
    rend = S.renderer(data_cfg(tmp_path))
    assert rend.factor_names == S.FACTOR_NAMES and rend.discrete == ("shape",)
    assert rend.factor_ranges["orientation"] == (0.0, pytest.approx(2 * math.pi))
    base = S.classes_to_factors(torch.tensor([[1, 2, 5, 10, 20]]))[0]
    g = torch.Generator().manual_seed(0)
    f = rend.vary(base, ("pos_x",), 16, g)
    assert f.shape == (16, 5)
    keep = [0, 1, 2, 4]
    assert torch.equal(f[:, keep], base[keep].expand(16, -1))
    assert set(f[:, 3].tolist()) <= set(S._grids()[3].tolist()) and len(set(f[:, 3].tolist())) > 4
    shapes = rend.vary(base, ("shape",), 32, g)[:, 0]
    assert set(shapes.tolist()) == {0.0, 1.0, 2.0}
    exact = S.classes_to_factors(torch.tensor([[2, 3, 0, 5, 6], [0, 1, 7, 31, 0]]))
    noisy = exact + torch.tensor([[0.2, 0.03, -0.05, 0.01, -0.01], [-0.3, -0.03, 0.05, 0.01, -0.01]])
    noisy[0, 2] = 2 * math.pi - 0.01  # orientation snaps circularly: just under 2 pi is 0
    images, masks = rend.render(noisy)
    assert masks is None and images.shape == (2, 1, 32, 32)
    assert torch.equal(images, S.render(exact, 32))
    assert torch.equal(S.snap(noisy), S.snap(exact))


# ----------------------------------------------------------------------------- the official file


SMALL_CLASSES = torch.tensor([[s, sc, o, x, y] for s in range(3) for sc in (0, 5) for o in (0, 10)
                              for x in (0, 31) for y in (3, 30)])


def write_npz(path, classes=SMALL_CLASSES, drop=None):
    """A file of dSprites' layout whose images come from the procedural renderer, at 64 px."""
    imgs = S.render(S.classes_to_factors(classes))[:, 0].to(torch.uint8).numpy()
    c = classes.numpy()
    values = np.stack([np.ones(len(c)), c[:, 0] + 1.0, 0.5 + c[:, 1] * 0.1, c[:, 2] * 2 * math.pi / 39,
                       c[:, 3] / 31, c[:, 4] / 31], 1)
    arrays = {"imgs": imgs, "latents_values": values,
              "latents_classes": np.concatenate([np.zeros((len(c), 1), np.int64), c], 1)}
    arrays.pop(drop, None)
    np.savez_compressed(path, **arrays)
    return path


def test_npz_file_is_read_with_the_grid_factors(tmp_path):
    path = write_npz(tmp_path / "small.npz")
    cfg = data_cfg(path, "data.image_size=64", "data.sprites.num_val=4", "data.sprites.num_test=4")
    sp = S.build(cfg)
    assert (len(sp.train), len(sp.val), len(sp.test)) == (40, 4, 4) and sp.info.binary
    every = torch.cat([sp.train.items, sp.val.items, sp.test.items])
    assert torch.equal(every.sort().values, torch.arange(48))
    assert torch.equal(sp.train.factors, S.classes_to_factors(SMALL_CLASSES[sp.train.items]))
    items = sp.train.__getitems__(list(range(len(sp.train))))
    images = torch.stack([it["image"] for it in items])
    assert torch.equal(images, S.render(sp.train.factors))
    # the official folder layout finds the same file
    (tmp_path / "folder").mkdir()
    write_npz(tmp_path / "folder" / S.OFFICIAL_FILE)
    assert S.official_file(data_cfg(tmp_path / "folder")) == tmp_path / "folder" / S.OFFICIAL_FILE
    # the renderer looks items up; one the file lacks is an error
    rend = S.renderer(cfg)
    wanted = S.classes_to_factors(SMALL_CLASSES[[5, 40]])
    assert torch.equal(rend.render(wanted)[0], S.render(wanted))
    with pytest.raises(UserError, match="no item with class indices"):
        rend.render(S.classes_to_factors(torch.tensor([[0, 1, 0, 0, 3]])))


def test_npz_file_resized_and_rgb(tmp_path):
    path = write_npz(tmp_path / "small.npz")
    sp = S.build(data_cfg(path, "data.image_size=32", "data.channels=3", "data.sprites.num_val=4",
                          "data.sprites.num_test=4"))
    assert not sp.info.binary and sp.info.channels == 3
    img = sp.val[0]["image"]
    assert img.shape == (3, 32, 32) and torch.equal(img[0], img[2]) and 0 <= img.min() and img.max() <= 1


def test_bad_npz_files_name_the_path_and_the_problem(tmp_path):
    def build(path, *more):
        return S.build(data_cfg(path, "data.sprites.num_val=4", "data.sprites.num_test=4", *more))

    with pytest.raises(UserError, match="no 'latents_classes' array"):
        build(write_npz(tmp_path / "nolatents.npz", drop="latents_classes"))
    with pytest.raises(UserError, match="no 'imgs' array"):
        build(write_npz(tmp_path / "noimgs.npz", drop="imgs"))
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(UserError, match=r"junk\.npz: cannot read"):
        build(junk)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, imgs=np.zeros((4, 32, 32), np.uint8), latents_classes=np.zeros((4, 6), np.int64))
    with pytest.raises(UserError, match=r"wrong\.npz: imgs has shape \(4, 32, 32\)"):
        build(wrong)
    np.savez(wrong, imgs=np.full((4, 64, 64), 255, np.uint8), latents_classes=np.zeros((4, 6), np.int64))
    with pytest.raises(UserError, match=r"wrong\.npz: imgs must hold the pixel values 0 and 1"):
        build(wrong)
    with pytest.raises(UserError, match=r"missing\.npz: no such file"):
        build(tmp_path / "missing.npz")
    with pytest.raises(UserError, match="data.sprites.num_val=40 .* holds only 48 items"):
        S.build(data_cfg(write_npz(tmp_path / "small.npz"), "data.sprites.num_val=40", "data.sprites.num_test=8"))


def test_bad_settings_name_the_key(tmp_path):
    with pytest.raises(UserError, match=r"^data.image_size=8: sprites needs at least 16 px$"):
        S.build(data_cfg(tmp_path, "data.image_size=8"))
    with pytest.raises(UserError, match="data.sprites.num_val=737000 .* the grid holds only 737280"):
        S.build(data_cfg(tmp_path, "data.sprites.num_val=737000", "data.sprites.num_test=280"))


# ----------------------------------------------------------------------------- with the rest of lit_gen


def test_datamodule_train_batch_and_pool_varier(tmp_path):
    from lit_gen.data.datamodule import GenerativeDataModule
    from lit_gen.data.factor_batches import PoolVarier

    cfg = load_config(str(REPO / "configs" / "vae.yaml"),
                      ["data.name=sprites", f"data.root={tmp_path}", "data.batch_size=16", "data.channels=3"])
    dm = GenerativeDataModule(cfg.data)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (16, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert torch.equal(batch["image"][:, 0], batch["image"][:, 1])
    assert batch["label"].dtype == torch.long and batch["factors"].shape == (16, 5)
    assert len(dm.splits.val) == 2000 and len(dm.splits.test) == 2000
    small = S.build(data_cfg(write_npz(tmp_path / "small.npz"), "data.sprites.num_val=4", "data.sprites.num_test=4"))
    varier = PoolVarier(small.train, S.FACTOR_NAMES, small.info.factor_groups)
    out = varier.make(0, ("pos_x",), 8, torch.Generator().manual_seed(0))
    assert out["image"].shape == (8, 1, 32, 32)
    others = [0, 1, 2, 4]
    assert (out["factors"][:, others] == small.train.factors[0, others]).all()
    assert len(out["factors"][:, 3].unique()) == 2  # the file holds two x positions, and both are picked


@pytest.mark.parametrize("config,overrides", [("dcign_sprites.yaml", []),
                                              ("experiments/disentangle_sprites_adagvae.yaml", ["data.factor_pairs=2"])])
def test_factor_batches_and_pairs_come_from_the_grid(tmp_path, config, overrides):
    """DC-IGN's one-factor batches and Ada-GVAE's pairs on the full grid: picked from the stored items (PoolVarier)."""
    from lit_gen.data.datamodule import GenerativeDataModule

    cfg = load_config(str(REPO / "configs" / config), [f"data.root={tmp_path}", *overrides])
    dm = GenerativeDataModule(cfg.data)
    dm.setup("fit")
    groups = dict(dm.info.factor_groups)
    cols = {g: [S.FACTOR_NAMES.index(n) for n in names] for g, names in groups.items()}
    for batch in zip(range(3), dm.train_dataloader()):
        f = batch[1]["factors"]
        assert f.shape == (32, 5)
        if "varied" in batch[1]:  # one group varies over the batch, the others are the base's
            g = list(groups)[int(batch[1]["varied"][0])]
            fixed = [j for j in range(5) if j not in cols[g]]
            assert (f[:, fixed] == f[:1, fixed]).all()
        else:  # pairs: items 2i, 2i+1 differ in at most two groups
            for p in range(16):
                diff = sum(bool((f[2 * p, c] != f[2 * p + 1, c]).any()) for c in cols.values())
                assert diff <= 2
        assert torch.equal(batch[1]["image"], S.render(f, 64))  # each item is its grid item's picture
