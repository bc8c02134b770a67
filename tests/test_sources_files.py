"""File-based data sources: IDX reader, MNIST / Fashion-MNIST, binarized MNIST, image folders.

Real-data tests read the project's data folder (``$LIT_GEN_DATA``, else ``../shared/data``; skipped with a reason
when absent);
the synthetic ones write tiny files under ``tmp_path`` and always run.
"""

from __future__ import annotations

import dataclasses
import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import DATA, in_process, need_data
from lit_gen.config.schema import DataConfig
from lit_gen.data.sources import binarized_mnist, folder, mnist
from lit_gen.data.sources.base import conform_images
from lit_gen.data.sources.idx import encode_idx, read_idx, write_idx
from lit_gen.errors import UserError

# the official class counts of MNIST
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def cfg(**kw) -> DataConfig:
    kw.setdefault("root", str(DATA))
    kw.setdefault("image_size", 28)
    kw.setdefault("channels", 1)
    return DataConfig(**kw)


def all_labels(ds) -> torch.Tensor:
    return ds.tensors["label"] if hasattr(ds, "tensors") else ds.labels


# --------------------------------------------------------------------------- real data fixtures


@pytest.fixture(scope="module")
def mnist_splits():
    need_data("MNIST/raw")
    return mnist.build(cfg(name="mnist", val_fraction=0.1))


@pytest.fixture(scope="module")
def mnist_arrays():
    need_data("MNIST/raw")
    return mnist.load_mnist_arrays(cfg(name="mnist"))


@pytest.fixture(scope="module")
def static_splits():
    need_data("binarized_mnist")
    return binarized_mnist.build(cfg(name="binarized_mnist", binarize="static"))


@pytest.fixture(scope="module")
def dynamic_splits():
    need_data("MNIST/raw")
    return binarized_mnist.build(cfg(name="binarized_mnist", binarize="dynamic", val_fraction=0.1))


# --------------------------------------------------------------------------- real data: MNIST


def test_mnist_split_sizes(mnist_splits):
    s = mnist_splits
    assert (len(s.train), len(s.val), len(s.test)) == (54000, 6000, 10000)
    assert s.info.num_classes == 10 and s.info.keys == {"image", "label"}
    assert (s.info.channels, s.info.image_size, s.info.binary) == (1, 28, False)


def test_mnist_labels_and_counts(mnist_splits):
    s = mnist_splits
    train, val, test = (all_labels(d) for d in (s.train, s.val, s.test))
    for y in (train, val, test):
        assert y.dtype == torch.int64 and int(y.min()) == 0 and int(y.max()) == 9
    assert torch.bincount(torch.cat([train, val]), minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(test, minlength=10).tolist() == MNIST_TEST_COUNTS
    # the val carve-out is a plausible random 10% of every class
    frac = torch.bincount(val, minlength=10).float() / torch.tensor(MNIST_TRAIN_COUNTS).float()
    assert ((frac > 0.07) & (frac < 0.13)).all()


def test_mnist_pixels(mnist_splits):
    s = mnist_splits
    stored = s.train.tensors["image"]
    assert stored.dtype == torch.uint8 and stored.shape == (54000, 1, 28, 28)
    assert int(stored.min()) == 0 and int(stored.max()) == 255
    item = s.test[0]
    assert item["image"].dtype == torch.float32 and item["image"].shape == (1, 28, 28)
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert float(item["image"].max()) == 1.0
    assert 0.10 < float(stored[:1000].float().mean() / 255) < 0.16  # MNIST mean ~0.13


def test_mnist_known_first_labels(mnist_arrays, mnist_splits):
    assert int(mnist_arrays["train_labels"][0]) == 5
    assert int(mnist_arrays["test_labels"][0]) == 7
    assert mnist_arrays["train_images"].shape == (60000, 28, 28)
    # item 0 of the test split is the official test image 0
    assert torch.equal(mnist_splits.test.tensors["image"][0, 0], torch.from_numpy(mnist_arrays["test_images"][0]))
    assert int(mnist_splits.test[0]["label"]) == 7


def test_fashion_mnist_loads():
    need_data("FashionMNIST/raw")
    s = mnist.build_fashion_mnist(cfg(name="fashion_mnist", val_fraction=0.1))
    assert (len(s.train), len(s.val), len(s.test)) == (54000, 6000, 10000)
    assert s.info.name == "fashion_mnist" and s.info.num_classes == 10
    assert torch.bincount(all_labels(s.test), minlength=10).tolist() == [1000] * 10
    full = torch.cat([all_labels(s.train), all_labels(s.val)])
    assert torch.bincount(full, minlength=10).tolist() == [6000] * 10
    x = s.train[0]["image"]
    assert x.shape == (1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_mnist_resize_to_32_rgb(mnist_arrays):
    s = mnist.build(cfg(name="mnist", image_size=32, channels=3, val_fraction=0.1))
    assert (len(s.train), len(s.val), len(s.test)) == (54000, 6000, 10000)
    assert (s.info.channels, s.info.image_size) == (3, 32)
    x = s.test[0]["image"]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    # same pixels as base.conform_images on the whole image
    ref = conform_images(torch.from_numpy(mnist_arrays["test_images"][:4]).unsqueeze(1), 3, 32)
    assert torch.equal(s.test.tensors["image"][:4], ref)
    batch = torch.utils.data.default_collate([s.train[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 32, 32)


# --------------------------------------------------------------------------- real data: binarized MNIST


def test_binarized_static(static_splits):
    s = static_splits
    assert (len(s.train), len(s.val), len(s.test)) == (50000, 10000, 10000)
    assert s.info.binary and s.info.keys == {"image"} and s.info.num_classes is None
    for ds in (s.train, s.val, s.test):
        t = ds.tensors["image"]  # stored as uint8 {0, 255}
        assert bool(((t == 0) | (t == 255)).all()) and bool((t == 255).any()) and bool((t == 0).any())
    x = s.train[0]["image"]
    assert x.shape == (1, 28, 28) and set(x.unique().tolist()) == {0.0, 1.0}
    assert "label" not in s.train[0]
    assert 0.1 < float(s.test.tensors["image"].float().mean() / 255) < 0.16


def test_binarized_static_amat_fast_path_matches_loadtxt():
    need_data("binarized_mnist/binarized_mnist_valid.amat.gz")
    p = DATA / "binarized_mnist" / "binarized_mnist_valid.amat.gz"
    fast = binarized_mnist.read_amat(p)
    head = b"".join(gzip.open(p).readlines()[:50])
    slow = np.loadtxt(head.decode().splitlines(), dtype=np.uint8)
    assert fast.shape == (10000, 784) and fast.dtype == np.uint8
    assert np.array_equal(fast[:50], slow)


def test_binarized_static_resized_stays_binary():
    need_data("binarized_mnist")
    s = binarized_mnist.build(cfg(name="binarized_mnist", binarize="static", image_size=32, channels=3))
    x = s.val[0]["image"]
    assert x.shape == (3, 32, 32) and set(x.unique().tolist()) <= {0.0, 1.0}


def test_binarized_dynamic(dynamic_splits):
    s = dynamic_splits
    assert (len(s.train), len(s.val), len(s.test)) == (54000, 6000, 10000)
    assert s.info.binary and s.info.keys == {"image", "label"} and s.info.num_classes == 10
    a, b = s.train[0], s.train[0]
    assert set(a["image"].unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a["image"], b["image"])  # redrawn on every fetch
    assert int(a["label"]) == int(b["label"]) == 5  # MNIST train item 0 is kept in train
    # the draws follow the intensities
    mean = torch.stack([s.train[0]["image"] for _ in range(400)]).mean(0)
    p = s.train.images[0].float() / 255
    assert float((mean - p).abs().max()) < 0.15
    # val and test are fixed
    assert torch.equal(s.val[3]["image"], s.val[3]["image"])
    assert torch.equal(s.test[0]["image"], s.test[0]["image"])
    t = s.test.tensors["image"]
    assert bool(((t == 0) | (t == 255)).all())


def test_binarized_dynamic_eval_is_stable_across_builds(dynamic_splits):
    again = binarized_mnist.build(cfg(name="binarized_mnist", binarize="dynamic", val_fraction=0.1))
    assert torch.equal(again.val.tensors["image"], dynamic_splits.val.tensors["image"])
    assert torch.equal(again.test.tensors["image"], dynamic_splits.test.tensors["image"])


# --------------------------------------------------------------------------- synthetic: IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    arrays = {
        "img": rng.integers(0, 256, (7, 5, 4), dtype=np.uint8),
        "lab": rng.integers(0, 10, (7,), dtype=np.uint8),
        "i32": rng.integers(-1000, 1000, (3, 2), dtype=np.int32),
        "f32": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "f64": rng.standard_normal((5,)),
        "i16": rng.integers(-300, 300, (4,), dtype=np.int16),
    }
    for name, a in arrays.items():
        p = write_idx(tmp_path / f"{name}{suffix}", a)
        b = read_idx(p)
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)
        assert b.flags.writeable
    # MNIST magic numbers
    assert encode_idx(arrays["img"])[:4] == (2051).to_bytes(4, "big")
    assert encode_idx(arrays["lab"])[:4] == (2049).to_bytes(4, "big")


def test_idx_corrupt_raises_user_error(tmp_path):
    good = encode_idx(np.zeros((3, 4, 4), np.uint8))
    cases = {
        "magic": b"\x08\x03\x00\x00" + good[4:],  # bytes swapped
        "dtype": b"\x00\x00\x07\x03" + good[4:],  # unknown type code
        "short": good[:2],
        "header": good[:9],
        "truncated": good[:-5],
        "long": good + b"\x00",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(UserError) as e:
            read_idx(p)
        msg = str(e.value)
        assert str(p) in msg and "\n" not in msg, name
    p = tmp_path / "truncated.gz"
    p.write_bytes(gzip.compress(good)[:-12])
    with pytest.raises(UserError, match="corrupt gzip"):
        read_idx(p)
    p = tmp_path / "labels"
    write_idx(p, np.zeros(3, np.uint8))
    with pytest.raises(UserError, match="expected 3-D"):
        read_idx(p, expect_ndim=3)


# --------------------------------------------------------------------------- synthetic: MNIST layout


def write_fake_mnist(root: Path, folder="MNIST", n_train=20, n_test=6, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    sfx = ".gz" if gz else ""
    data = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for stem, a in data.items():
        write_idx(raw / (stem + sfx), a)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_fake_mnist_build(tmp_path, gz):
    data = write_fake_mnist(tmp_path, gz=gz)
    s = mnist.build(cfg(name="mnist", root=str(tmp_path), val_fraction=0.25))
    assert (len(s.train), len(s.val), len(s.test)) == (15, 5, 6)
    assert torch.equal(s.test.tensors["image"][:, 0], torch.from_numpy(data["t10k-images-idx3-ubyte"]))
    assert all_labels(s.test).tolist() == [0, 1, 2, 3, 4, 5]
    s = mnist.build(cfg(name="mnist", root=str(tmp_path), val_fraction=0.0, image_size=14, channels=3))
    assert (len(s.train), len(s.val)) == (20, 0) and s.train[0]["image"].shape == (3, 14, 14)


def test_fake_fashion_mnist_layout(tmp_path):
    write_fake_mnist(tmp_path, folder="FashionMNIST")
    s = mnist.build(cfg(name="fashion_mnist", root=str(tmp_path)))
    assert s.info.name == "fashion_mnist" and len(s.test) == 6
    with pytest.raises(UserError, match=r"MNIST/raw/train-images-idx3-ubyte\.gz"):
        mnist.build(cfg(name="mnist", root=str(tmp_path)))


def test_mnist_user_errors(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(UserError) as e:
        mnist.build(cfg(name="mnist", root=str(missing)))
    assert f"data.root={missing}" in str(e.value) and "no such folder" in str(e.value)
    with pytest.raises(UserError) as e:
        mnist.build(cfg(name="mnist", root=str(tmp_path)))
    msg = str(e.value)
    assert msg.startswith(f"data.root={tmp_path}: no MNIST/raw/train-images-idx3-ubyte.gz there")
    assert "torchvision MNIST layout" in msg and "\n" not in msg
    write_fake_mnist(tmp_path)
    # channels and val_fraction are checked once, where the config is read
    for bad, rule in (("data.channels=0", "choose one of 1, 3"), ("data.channels=2", "choose one of 1, 3"),
                      ("data.channels=4", "choose one of 1, 3"), ("data.val_fraction=1.5", "must be in [0, 1)")):
        r = in_process("fit", "--config", "configs/vae_mnist.yaml", f"data.root={tmp_path}", bad)
        assert r.returncode == 2 and r.stderr == f"error: {bad}: {rule}\n", r.stderr
    with pytest.raises(UserError, match="data.name='cifar10'"):
        mnist.build(cfg(name="cifar10", root=str(tmp_path)))
    # corrupt file in the layout
    p = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    for data, match in [
        (b"\x00\x00\x08\x03" + (6).to_bytes(4, "big") + bytes(6), "truncated IDX header"),
        (encode_idx(np.zeros((6, 28, 28), np.uint8))[:-1], "truncated IDX file"),
        (encode_idx(np.zeros((6, 0, 28), np.uint8)), "images of size 0x28"),
        (encode_idx(np.zeros((6, 28, 28), np.int32)), "holds int32 data; expected uint8"),
        (b"\x00\x00\x08\x01" + bytes(4), "3-D"),  # a label file in the image slot
    ]:
        p.write_bytes(gzip.compress(data))
        with pytest.raises(UserError, match=match) as e:
            mnist.build(cfg(name="mnist", root=str(tmp_path)))
        assert str(p) in str(e.value)


def test_mnist_count_mismatch(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(UserError, match="6 images but .* has 5 labels"):
        mnist.build(cfg(name="mnist", root=str(tmp_path)))


# --------------------------------------------------------------------------- synthetic: binarized MNIST


def amat_text(x01: np.ndarray, eol="\n") -> bytes:
    return "".join(" ".join(str(v) for v in row) + eol for row in x01).encode()


def write_fake_amat(root: Path, sizes=(6, 3, 2), seed=0):
    rng = np.random.default_rng(seed)
    d = root / "binarized_mnist"
    d.mkdir(parents=True)
    out = {}
    for split, n in zip(("train", "valid", "test"), sizes):
        x = rng.integers(0, 2, (n, 784), dtype=np.uint8)
        (d / f"binarized_mnist_{split}.amat.gz").write_bytes(gzip.compress(amat_text(x)))
        out[split] = x
    return out


def test_fake_binarized_static(tmp_path):
    data = write_fake_amat(tmp_path)
    s = binarized_mnist.build(cfg(name="binarized_mnist", root=str(tmp_path), binarize="static", val_fraction=0.5))
    assert (len(s.train), len(s.val), len(s.test)) == (6, 3, 2)  # official valid, val_fraction ignored
    assert np.array_equal(s.val[1]["image"].reshape(784).numpy().astype(np.uint8), data["valid"][1])


def test_amat_parsing(tmp_path):
    x = np.random.default_rng(1).integers(0, 2, (3, 784), dtype=np.uint8)
    assert np.array_equal(binarized_mnist.parse_amat(amat_text(x)), x)
    assert np.array_equal(binarized_mnist.parse_amat(amat_text(x, eol="\r\n")), x)  # slow path
    with pytest.raises(UserError, match="expected 784"):
        binarized_mnist.parse_amat(amat_text(x[:, :100]), "f.amat")
    with pytest.raises(UserError, match="must be 0 or 1"):
        binarized_mnist.parse_amat(amat_text(x * 2), "f.amat")
    with pytest.raises(UserError, match="not a binarized-MNIST"):
        binarized_mnist.parse_amat(b"hello world\n", "f.amat")


def test_binarized_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"data.binarize='sometimes': expected 'static'.*'dynamic'"):
        binarized_mnist.build(cfg(name="binarized_mnist", root=str(tmp_path), binarize="sometimes"))
    with pytest.raises(UserError, match=r"no binarized_mnist/binarized_mnist_train\.amat\.gz there"):
        binarized_mnist.build(cfg(name="binarized_mnist", root=str(tmp_path), binarize="static"))
    with pytest.raises(UserError, match=r"no MNIST/raw/train-images-idx3-ubyte\.gz there"):
        binarized_mnist.build(cfg(name="binarized_mnist", root=str(tmp_path), binarize="dynamic"))
    write_fake_amat(tmp_path)
    r = in_process("fit", "--config", "configs/vae_mnist.yaml", f"data.root={tmp_path}", "data.binarize=static",
                   "data.channels=2")
    assert r.returncode == 2 and r.stderr == "error: data.channels=2: choose one of 1, 3\n", r.stderr


def test_fake_binarized_dynamic_rgb(tmp_path):
    write_fake_mnist(tmp_path)
    s = binarized_mnist.build(
        cfg(name="binarized_mnist", root=str(tmp_path), binarize="dynamic", val_fraction=0.25, channels=3, image_size=16)
    )
    x = s.train[0]["image"]
    assert x.shape == (3, 16, 16) and torch.equal(x[0], x[2])  # one draw per pixel
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert set(s.val[0]["image"].unique().tolist()) <= {0.0, 1.0}
    batch = next(iter(torch.utils.data.DataLoader(s.train, batch_size=4)))
    assert batch["image"].shape == (4, 3, 16, 16) and batch["label"].shape == (4,)


# --------------------------------------------------------------------------- synthetic: image folders


COLOURS = {"cat": (255, 0, 0), "dog": (0, 0, 255), "emu": (0, 255, 0)}


def write_png(path: Path, rgb=(255, 0, 0), size=(12, 10), mode="RGB"):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, rgb if mode == "RGB" else rgb[0]).save(path)
    return path


def class_folder(root: Path, per_class=3):
    for name, rgb in COLOURS.items():
        for i in range(per_class):
            sub = "deeper/" if i == 2 else ""  # nested images keep their top-level class
            write_png(root / name / f"{sub}{i}.png", rgb, size=(12 + i, 10))
    return root


def test_folder_class_labels(tmp_path):
    root = class_folder(tmp_path / "imgs")
    s = folder.build(cfg(name="folder", root=str(root), channels=3, image_size=8, val_fraction=0.0))
    assert s.info.num_classes == 3 and s.info.keys == {"image", "label"}
    assert len(s.train) == 9 and len(s.val) == 0 and len(s.test) == 0
    names = sorted(COLOURS)
    for i in range(len(s.train)):
        item = s.train[i]
        assert item["image"].shape == (3, 8, 8)
        want = torch.tensor(COLOURS[names[int(item["label"])]], dtype=torch.float32) / 255
        assert torch.allclose(item["image"].mean((1, 2)), want, atol=1e-6)
    assert torch.bincount(all_labels(s.train)).tolist() == [3, 3, 3]


def test_folder_no_labels_grey_and_splits(tmp_path):
    root = tmp_path / "flat"
    for i in range(10):
        write_png(root / f"{i}.PNG", (i * 20, 0, 0), size=(40, 20))
    write_png(root / "notes" / "x.jpg", (255, 255, 255), size=(20, 40))
    (root / "readme.txt").write_text("not an image")
    write_png(root / ".hidden" / "skip.png")
    s = folder.build(cfg(name="folder", root=str(root), channels=1, image_size=16, val_fraction=0.25))
    assert s.info.keys == {"image"} and s.info.num_classes is None
    assert (len(s.train), len(s.val), len(s.test)) == (8, 3, 3)
    assert torch.equal(s.test.tensors["image"], s.val.tensors["image"])  # test = held-out val
    assert s.train[0]["image"].shape == (1, 16, 16)


def test_folder_image_modes(tmp_path):
    from PIL import Image

    root = tmp_path / "modes"
    root.mkdir()
    Image.fromarray(np.full((6, 6), 65535, np.uint16)).save(root / "a16.png")  # 16-bit grey
    Image.new("RGBA", (6, 6), (255, 255, 255, 0)).save(root / "b_transparent.png")
    Image.new("P", (6, 6), 3).save(root / "c_palette.bmp")
    Image.new("RGB", (6, 6), (10, 200, 30)).save(root / "d.webp", lossless=True)
    s = folder.build(cfg(name="folder", root=str(root), channels=3, image_size=6, val_fraction=0.0))
    imgs = s.train.tensors["image"]
    assert imgs.shape == (4, 3, 6, 6)
    assert int(imgs[0].min()) == 255  # 16-bit white -> 255
    assert int(imgs[1].max()) == 0  # fully transparent -> black
    assert imgs[3, :, 0, 0].tolist() == [10, 200, 30]


def test_folder_corrupt_file_skipped_with_warning(tmp_path):
    root = class_folder(tmp_path / "imgs", per_class=2)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    good = (root / "dog" / "0.png").read_bytes()
    (root / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match=r"skipped 2 of 8 image files") as rec:
        s = folder.build(cfg(name="folder", root=str(root), channels=3, image_size=8, val_fraction=0.0))
    assert len([w for w in rec if "skipped" in str(w.message)]) == 1  # one warning for all
    assert len(s.train) == 6 and torch.bincount(all_labels(s.train)).tolist() == [2, 2, 2]


def test_folder_user_errors(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("x")
    with pytest.raises(UserError) as e:
        folder.build(cfg(name="folder", root=str(empty)))
    assert str(empty) in str(e.value) and "no image files" in str(e.value)

    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"{i}.jpg").write_bytes(b"not a jpeg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the error says it all
        with pytest.raises(UserError, match="none of the 3 image files could be read") as e:
            folder.build(cfg(name="folder", root=str(bad)))
    assert str(bad) in str(e.value)

    with pytest.raises(UserError, match="no such folder"):
        folder.build(cfg(name="folder", root=str(tmp_path / "missing")))
    f = write_png(tmp_path / "one.png")
    with pytest.raises(UserError, match="is a file, not a folder"):
        folder.build(cfg(name="folder", root=str(f)))
    class_folder(tmp_path / "ok")
    r = in_process("fit", "--config", "configs/vae.yaml", "data.name=folder", f"data.root={tmp_path / 'ok'}",
                   "data.channels=4")  # checked once, where the config is read
    assert r.returncode == 2 and r.stderr == "error: data.channels=4: choose one of 1, 3\n", r.stderr


def test_user_error_messages_are_one_line(tmp_path):
    calls = [
        lambda: mnist.build(cfg(name="mnist", root=str(tmp_path / "x"))),
        lambda: binarized_mnist.build(dataclasses.replace(cfg(name="binarized_mnist"), binarize="nope")),
        lambda: folder.build(cfg(name="folder", root=str(tmp_path))),
    ]
    for call in calls:
        with pytest.raises(UserError) as e:
            call()
        assert "\n" not in str(e.value) and str(e.value).strip()
