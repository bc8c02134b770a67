"""Binarized MNIST (``data.name=binarized_mnist``), pixels exactly {0, 1}.

``data.binarize`` picks the variant:

``static``
    Larochelle & Murray's fixed binarization, read from
    ``ROOT/binarized_mnist/binarized_mnist_{train,valid,test}.amat[.gz]``
    (50,000 / 10,000 / 10,000 images). The official ``valid`` file is the val
    split and ``data.val_fraction`` is ignored. Items: ``{"image"}`` (no labels
    exist for this split).

``dynamic``
    MNIST intensities (``ROOT/MNIST/raw``, see ``mnist.py``); on every fetch of
    a train item each pixel is redrawn ~ Bernoulli(intensity) with torch's global
    RNG, so every epoch sees new draws (DataLoader workers are seeded per epoch
    and per worker by torch, and ``seed_everything`` makes runs reproducible).
    val (``data.val_fraction`` of the train set, ``split_off_val(seed=0)``) and
    test (the official 10k) are binarized ONCE with fixed seeds, so evaluation is
    the same every epoch and every run. Items: ``{"image", "label"}``.

Resizing: with ``data.image_size != 28`` the dynamic variant resizes the
intensities and then draws; the static variant resizes the binary images and
re-thresholds at 0.5, so both stay exactly {0, 1}. ``data.channels=3`` repeats
the channel.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lit_gen.data.sources import Source
from lit_gen.data.sources.idx import read_bytes
from lit_gen.data.sources.mnist import load_mnist_arrays
from lit_gen.errors import UserError

if TYPE_CHECKING:  # annotations only: a config check imports this module without torch
    import torch

    from lit_gen.data.sources.base import SourceInfo, Splits

BINARIZE_CHOICES = ("static", "dynamic")
AMAT_SPLITS = ("train", "valid", "test")
STATIC_LAYOUT = "Larochelle's binarized MNIST (ROOT/binarized_mnist/binarized_mnist_{train,valid,test}.amat.gz)"
VAL_SEED = 0  # fixed draws for the dynamic variant's val split
TEST_SEED = 1  # ... and for its test split
PIXELS = 28 * 28


# --------------------------------------------------------------------------- .amat files


def parse_amat(data: bytes, path="<bytes>") -> np.ndarray:
    """Decode a binarized-MNIST ``.amat`` text file to (N, 784) uint8 in {0, 1}.

    Fast path: the canonical file is ``"d d ... d\\n"`` per line, so the digits
    are every other byte (``[::2] - 48``); the separators are checked to be
    spaces and newlines in the right places. Anything else (CRLF, extra spaces,
    ``0.0``/``1.0`` values) falls back to ``np.loadtxt``.
    """
    a = np.frombuffer(data, np.uint8)
    line = 2 * PIXELS
    if a.size and a.size % line == 0:
        digits, seps = a[::2], a[1::2].reshape(-1, PIXELS)
        if (
            ((digits == 48) | (digits == 49)).all()
            and (seps[:, :-1] == 32).all()
            and (seps[:, -1] == 10).all()
        ):
            return (digits - 48).reshape(-1, PIXELS)
    try:
        x = np.loadtxt(io.BytesIO(data), dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise UserError(f"{path}: not a binarized-MNIST .amat file ({str(e).splitlines()[0]})") from None
    if x.size == 0 or x.shape[1] != PIXELS:
        raise UserError(f"{path}: .amat rows have {x.shape[1] if x.size else 0} values; expected {PIXELS} (28x28)")
    if not np.isin(x, (0.0, 1.0)).all():
        raise UserError(f"{path}: .amat values must be 0 or 1; the file is corrupt or not binarized MNIST")
    return x.astype(np.uint8)


def read_amat(path) -> np.ndarray:
    """Read a (possibly gzipped) ``.amat`` file; see :func:`parse_amat`."""
    return parse_amat(read_bytes(path), path)


def find_amat(root: Path, split: str) -> Path:
    from lit_gen.data.sources.base import show_root

    folder = root / "binarized_mnist"
    for p in (folder / f"binarized_mnist_{split}.amat", folder / f"binarized_mnist_{split}.amat.gz"):
        if p.is_file():
            return p
    raise UserError(
        f"data.root={show_root(root)}: no binarized_mnist/binarized_mnist_{split}.amat.gz there; "
        f"expected {STATIC_LAYOUT}"
    )


# --------------------------------------------------------------------------- datasets


class DynamicBinarizedDataset:
    """Items ``{"image": Bernoulli(intensity), "label"}``, redrawn on every fetch.

    ``images`` are uint8 intensities (N, 1, H, W); one draw per pixel with
    torch's global RNG, repeated to ``channels``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, channels: int = 1):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if images.dim() != 4 or images.shape[1] != 1:
            raise ValueError(f"expected (N, 1, H, W) intensities, got {tuple(images.shape)}")
        self.images = images
        self.labels = labels
        self.channels = channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        import torch

        img = torch.bernoulli(self.images[i].float().div_(255.0))
        if self.channels != 1:
            img = img.repeat(self.channels, 1, 1)
        return {"image": img, "label": self.labels[i]}

    def __getitems__(self, indices: list):
        """One Bernoulli draw for the whole batch (see ``TensorDictDataset.__getitems__``)."""
        import torch

        from lit_gen.data.sources.base import ItemViews

        idx = torch.as_tensor(indices, dtype=torch.long)
        img = torch.bernoulli(self.images[idx].float().div_(255.0))
        if self.channels != 1:
            img = img.repeat(1, self.channels, 1, 1)
        return ItemViews({"image": img, "label": self.labels[idx]})


def binarize_once(images: torch.Tensor, seed: int) -> torch.Tensor:
    """A fixed Bernoulli draw of uint8 intensities, as uint8 {0, 255} (reads back as {0., 1.})."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = torch.empty(images.shape, dtype=torch.uint8)
    flat_in, flat_out = images.reshape(len(images), -1), out.view(len(images), -1)
    for i in range(0, len(images), 8192):  # bounded float memory
        p = flat_in[i : i + 8192].float().div_(255.0)
        flat_out[i : i + 8192] = torch.bernoulli(p, generator=g).to(torch.uint8).mul_(255)
    return out


# --------------------------------------------------------------------------- builders


def _info(cfg, keys, num_classes=None) -> SourceInfo:
    from lit_gen.data.sources.base import SourceInfo

    return SourceInfo(
        name="binarized_mnist",
        channels=cfg.channels,
        image_size=cfg.image_size,
        keys=frozenset(keys),
        num_classes=num_classes,
        binary=True,
    )


def _conform_binary(x01: np.ndarray, channels: int, size: int) -> torch.Tensor:
    """(N, 784) {0,1} -> (N, C, size, size) uint8 {0, 255}, re-thresholded after any resize."""
    import torch

    from lit_gen.data.sources.base import conform_uint8

    t = torch.from_numpy(x01).view(-1, 1, 28, 28).mul(255)
    if size != 28:
        t = conform_uint8(t, 1, size)
        t = torch.where(t >= 128, 255, 0).to(torch.uint8)
    return conform_uint8(t, channels, size)


def build_static(cfg) -> Splits:
    from lit_gen.data.sources.base import Splits, TensorDictDataset, resolve_root

    root = resolve_root(cfg, "a folder holding binarized_mnist/binarized_mnist_{train,valid,test}.amat.gz")
    paths = {s: find_amat(root, s) for s in AMAT_SPLITS}
    data = {s: _conform_binary(read_amat(p), cfg.channels, cfg.image_size) for s, p in paths.items()}
    return Splits(
        train=TensorDictDataset({"image": data["train"]}),
        val=TensorDictDataset({"image": data["valid"]}),
        test=TensorDictDataset({"image": data["test"]}),
        info=_info(cfg, {"image"}),
    )


def build_dynamic(cfg) -> Splits:
    import torch

    from lit_gen.data.sources.base import (
        Splits, TensorDictDataset, conform_uint8, split_off_val, subset)

    arrays = load_mnist_arrays(cfg, "mnist")
    train_img = conform_uint8(torch.from_numpy(arrays["train_images"]).unsqueeze(1), cfg.channels, cfg.image_size)
    test_img = conform_uint8(torch.from_numpy(arrays["test_images"]).unsqueeze(1), cfg.channels, cfg.image_size)
    train = {"image": train_img, "label": torch.from_numpy(arrays["train_labels"].astype(np.int64))}
    tr_idx, va_idx = split_off_val(len(train["label"]), float(cfg.val_fraction), seed=0)
    tr, va = subset(train, tr_idx), subset(train, va_idx)
    # one draw per pixel, repeated over the channels for channels=3
    val_img = binarize_once(va["image"][:, :1], VAL_SEED).expand_as(va["image"])
    test_bin = binarize_once(test_img[:, :1], TEST_SEED).expand_as(test_img)
    return Splits(
        train=DynamicBinarizedDataset(tr["image"][:, :1], tr["label"], channels=cfg.channels),
        val=TensorDictDataset({"image": val_img, "label": va["label"]}),
        test=TensorDictDataset(
            {"image": test_bin, "label": torch.from_numpy(arrays["test_labels"].astype(np.int64))}
        ),
        info=_info(cfg, {"image", "label"}, num_classes=10),
    )


def build(cfg) -> Splits:
    """``data.name=binarized_mnist``; ``data.binarize`` in {static, dynamic}."""
    mode = getattr(cfg, "binarize", None)
    if mode not in BINARIZE_CHOICES:
        raise UserError(
            f"data.binarize={mode!r}: expected 'static' (Larochelle's fixed split) or 'dynamic' (redrawn each epoch)"
        )
    return build_static(cfg) if mode == "static" else build_dynamic(cfg)


SOURCES = (Source("binarized_mnist", build, key_fields=("binarize",)),)
