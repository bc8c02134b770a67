"""MNIST and Fashion-MNIST from the original IDX files (``data.name=mnist | fashion_mnist``).

Layout (the one torchvision uses, so a torchvision download folder works as is)::

    ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    ROOT/FashionMNIST/raw/...same names...

``ROOT`` is ``data.root``. Each file may be gzipped or raw; when both exist the
raw one (which torchvision writes next to the ``.gz``) is read, as it is faster.
The files are decoded directly (``lit_gen.data.sources.idx``); torchvision is
neither needed nor used, so results do not depend on whether it is installed.

Splits: ``train``/``val`` come from the official 60k training set, with
``data.val_fraction`` carved off by ``split_off_val(n, frac, seed=0)``;
``test`` is the official 10k test set. Items: ``{"image": float (C,H,W) in
[0,1], "label": int64}``. Images are brought to ``data.channels`` and
``data.image_size`` once at build time and stored as uint8.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lit_gen.data.sources import Source
from lit_gen.data.sources.idx import read_idx
from lit_gen.errors import UserError

if TYPE_CHECKING:  # annotations only: a config check imports this module without torch
    import torch

    from lit_gen.data.sources.base import Splits

# data.name -> (folder under ROOT, human name)
DATASETS = {
    "mnist": ("MNIST", "MNIST"),
    "fashion_mnist": ("FashionMNIST", "Fashion-MNIST"),
}
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# --------------------------------------------------------------------------- MNIST files


def find_file(folder: Path, stem: str, root: Path, layout: str) -> Path:
    """``folder/stem`` or ``folder/stem.gz`` (raw preferred); UserError naming the path if neither exists."""
    from lit_gen.data.sources.base import show_root

    for p in (folder / stem, folder / (stem + ".gz")):
        if p.is_file():
            return p
    rel = (folder / (stem + ".gz")).relative_to(root)
    raise UserError(f"data.root={show_root(root)}: no {rel.as_posix()} there; expected {layout}")


def load_idx_dataset(root: Path, folder: str, layout: str) -> dict:
    """The four arrays of an MNIST-like data set: ``{train,test}_{images,labels}`` (uint8 numpy).

    Images are (N, 28, 28) (any H, W is accepted), labels (N,). Raises UserError
    for missing or corrupt files and for image/label count mismatches.
    """
    base = root / folder / "raw"
    paths = {k: find_file(base, stem, root, layout) for k, stem in FILES.items()}
    out = {}
    for k, p in paths.items():
        out[k] = read_idx(p, expect_ndim=3 if k.endswith("images") else 1, expect_dtype=np.uint8)
        if k.endswith("images") and min(out[k].shape[1:]) == 0:
            raise UserError(f"{p}: images of size {out[k].shape[1]}x{out[k].shape[2]}; expected 28x28; corrupt file")
    for split in ("train", "test"):
        ni, nl = len(out[f"{split}_images"]), len(out[f"{split}_labels"])
        if ni != nl:
            raise UserError(
                f"{paths[f'{split}_images']}: {ni} images but {paths[f'{split}_labels']} has {nl} labels; "
                f"the files do not belong together"
            )
        labels = out[f"{split}_labels"]
        if labels.size and labels.max() > 9:
            raise UserError(f"{paths[f'{split}_labels']}: label {int(labels.max())} out of range 0..9; corrupt file")
    return out


def load_mnist_arrays(cfg, name: str = "mnist") -> dict:
    """Raw uint8 arrays of ``name`` in {"mnist", "fashion_mnist"} under ``data.root``."""
    from lit_gen.data.sources.base import resolve_root

    folder, human = DATASETS[name]
    layout = f"the torchvision {human} layout (ROOT/{folder}/raw/*-ubyte.gz)"
    root = resolve_root(cfg, f"a folder holding {folder}/raw/ ({human} IDX files)")
    return load_idx_dataset(root, folder, layout)


def _images_tensor(arr: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(arr).unsqueeze(1)  # (N, 1, H, W) uint8


def build_idx_classification(cfg, name: str) -> Splits:
    import torch

    from lit_gen.data.sources.base import (
        SourceInfo, Splits, TensorDictDataset, conform_uint8, split_off_val, subset)

    arrays = load_mnist_arrays(cfg, name)
    train = {
        "image": conform_uint8(_images_tensor(arrays["train_images"]), cfg.channels, cfg.image_size),
        "label": torch.from_numpy(arrays["train_labels"].astype(np.int64)),
    }
    test = {
        "image": conform_uint8(_images_tensor(arrays["test_images"]), cfg.channels, cfg.image_size),
        "label": torch.from_numpy(arrays["test_labels"].astype(np.int64)),
    }
    tr_idx, va_idx = split_off_val(len(train["label"]), float(cfg.val_fraction), seed=0)
    info = SourceInfo(
        name=name,
        channels=cfg.channels,
        image_size=cfg.image_size,
        keys=frozenset({"image", "label"}),
        num_classes=10,
    )
    return Splits(
        train=TensorDictDataset(subset(train, tr_idx)),
        val=TensorDictDataset(subset(train, va_idx)),
        test=TensorDictDataset(test),
        info=info,
    )


def build_mnist(cfg) -> Splits:
    """``data.name=mnist``."""
    return build_idx_classification(cfg, "mnist")


def build_fashion_mnist(cfg) -> Splits:
    """``data.name=fashion_mnist``."""
    return build_idx_classification(cfg, "fashion_mnist")


def build(cfg) -> Splits:
    """Dispatch on ``data.name`` in {"mnist", "fashion_mnist"}."""
    name = getattr(cfg, "name", None)
    if name not in DATASETS:
        raise UserError(f"data.name={name!r}: this source reads {' or '.join(sorted(DATASETS))}")
    return build_idx_classification(cfg, name)


SOURCES = (Source("mnist", build), Source("fashion_mnist", build))
