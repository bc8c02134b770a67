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

This module also holds the small helpers the other file-based sources share
(config checks, root resolution, chunked ``conform_images``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lit_gen.data.sources.base import SourceInfo, Splits, TensorDictDataset, conform_images, split_off_val
from lit_gen.data.sources.idx import read_idx
from lit_gen.errors import UserError

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


# --------------------------------------------------------------------------- shared helpers


def check_image_cfg(cfg) -> None:
    """UserError unless channels, image_size and val_fraction are usable."""
    channels = getattr(cfg, "channels", None)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise UserError(f"data.channels={channels!r}: expected 1 (grey) or 3 (RGB)")
    size = getattr(cfg, "image_size", None)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise UserError(f"data.image_size={size!r}: expected a positive integer (pixels per side)")
    frac = getattr(cfg, "val_fraction", None)
    if not isinstance(frac, (int, float)) or isinstance(frac, bool) or not 0.0 <= frac < 1.0:
        raise UserError(f"data.val_fraction={frac!r}: expected a number in [0, 1)")


def show_root(root: Path) -> str:
    """``root`` as the user wrote it, plus the absolute path when it was relative."""
    return str(root) if root.is_absolute() else f"{root} (= {root.resolve()})"


def resolve_root(cfg, expected: str) -> Path:
    """``data.root`` as a Path; UserError (saying what was ``expected`` there) if it is not a folder."""
    raw = getattr(cfg, "root", None)
    if raw is None or str(raw).strip() == "":
        raise UserError(f"data.root is empty; expected {expected}")
    root = Path(str(raw)).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "no such folder"
        raise UserError(f"data.root={show_root(root)}: {what}; expected {expected} (set data.root or $LIT_GEN_DATA)")
    return root


def conform_uint8(images: torch.Tensor, channels: int, size: int, chunk: int = 8192) -> torch.Tensor:
    """``conform_images`` in chunks (bounded float memory) for a (N, C, H, W) uint8 batch.

    Grey-to-RGB is returned as an ``expand``ed view of the grey result (the three
    channels share memory), which is what ``conform_images`` would compute, at a
    third of the memory. Use :func:`take` (not ``base.subset``) to index such a
    tensor without materialising the three channels.
    """
    n, c = images.shape[:2]
    grey_to_rgb = c == 1 and channels == 3
    target_c = 1 if grey_to_rgb else channels
    if c == target_c and tuple(images.shape[-2:]) == (size, size):
        out = images
    else:
        parts = [conform_images(images[i : i + chunk], target_c, size) for i in range(0, n, chunk)]
        out = torch.cat(parts) if parts else images.new_zeros((0, target_c, size, size))
    if grey_to_rgb:
        out = out.expand(-1, 3, -1, -1)
    return out


def take(tensors: dict, idx: torch.Tensor) -> dict:
    """``base.subset`` that keeps grey-to-RGB ``expand``ed views (stride 0 on C) as views."""
    out = {}
    for k, v in tensors.items():
        if v.dim() == 4 and v.shape[1] > 1 and v.stride(1) == 0:
            out[k] = v[:, :1][idx].expand(-1, v.shape[1], -1, -1)
        else:
            out[k] = v[idx]
    return out


# --------------------------------------------------------------------------- MNIST files


def find_file(folder: Path, stem: str, root: Path, layout: str) -> Path:
    """``folder/stem`` or ``folder/stem.gz`` (raw preferred); UserError naming the path if neither exists."""
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
    folder, human = DATASETS[name]
    layout = f"the torchvision {human} layout (ROOT/{folder}/raw/*-ubyte.gz)"
    root = resolve_root(cfg, f"a folder holding {folder}/raw/ ({human} IDX files)")
    return load_idx_dataset(root, folder, layout)


def _images_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr).unsqueeze(1)  # (N, 1, H, W) uint8


def build_idx_classification(cfg, name: str) -> Splits:
    check_image_cfg(cfg)
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
        train=TensorDictDataset(take(train, tr_idx)),
        val=TensorDictDataset(take(train, va_idx)),
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
