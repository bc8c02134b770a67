"""CIFAR-10 from its python pickle batches (``data.name=cifar10``), in torchvision's layout::

    ROOT/cifar-10-batches-py/{data_batch_1, ..., data_batch_5, test_batch, batches.meta}

``ROOT`` is ``data.root``; the folder's name is ``data.cifar10.folder``. Splits: train/val from the five training
batches (``data.val_fraction`` carved off with seed 0), test the test batch. Items: ``image`` (C, H, W) in [0, 1],
brought to ``data.channels`` and ``data.image_size`` once at build time, and ``label`` (the class, 0..9; the names
are ``batches.meta``'s ``label_names``).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

from lit_gen.data.sources import Source
from lit_gen.errors import UserError

NAME = "cifar10"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
SIDE = 32
WHERE = ("the CIFAR-10 python version (cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, "
         "unpacked)")
# what a batch pickle may hold: numpy arrays and the builtins; anything else is refused before it runs
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")}


@dataclass
class Cifar10Config:
    """CIFAR-10's python batches (``data.name=cifar10``)."""

    folder: str = "cifar-10-batches-py"  # under data.root


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a CIFAR batch")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    """A batch pickle as a dict with str keys; UserError naming the path when it is missing or not a batch."""
    if not path.is_file():
        raise UserError(f"data.name=cifar10: no {path} (data.root, data.cifar10.folder); expected {WHERE}")
    try:
        with open(path, "rb") as f:
            d = _BatchUnpickler(f, encoding="latin1").load()
    except Exception as e:  # any unpickling failure is a bad file
        raise UserError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise UserError(f"{path}: not a CIFAR-10 python batch (holds a {type(d).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}


def read_images(path: Path) -> tuple:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of one batch file."""
    import numpy as np

    d = read_batch(path)
    if "data" not in d or "labels" not in d:
        raise UserError(f"{path}: a CIFAR-10 batch holds 'data' and 'labels'; this one has {', '.join(map(str, d))}")
    data = np.asarray(d["data"], dtype=np.uint8)
    labels = np.asarray(d["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE or len(data) != len(labels):
        raise UserError(f"{path}: data of shape {data.shape} with {len(labels)} labels; expected (N, 3072) and N")
    if labels.size and not 0 <= labels.min() <= labels.max() <= 9:
        raise UserError(f"{path}: label {int(labels.max())} out of range 0..9")
    return data.reshape(-1, 3, SIDE, SIDE), labels


def build(cfg):
    import numpy as np
    import torch

    from lit_gen.data.sources.base import (
        SourceInfo,
        Splits,
        TensorDictDataset,
        conform_uint8,
        resolve_root,
        split_off_val,
        subset,
    )

    root = resolve_root(cfg, f"a folder holding {cfg.cifar10.folder}/ ({WHERE})")
    folder = root / cfg.cifar10.folder
    meta = read_batch(folder / META_FILE)
    parts = [read_images(folder / name) for name in TRAIN_FILES]
    test_x, test_y = read_images(folder / TEST_FILE)

    def tensors(x, y) -> dict:
        return {"image": conform_uint8(torch.from_numpy(x), cfg.channels, cfg.image_size), "label": torch.from_numpy(y)}

    train = tensors(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    tr_idx, va_idx = split_off_val(len(train["label"]), float(cfg.val_fraction), seed=0)
    info = SourceInfo(name=NAME, channels=cfg.channels, image_size=cfg.image_size, keys=frozenset({"image", "label"}),
                      num_classes=len(meta.get("label_names", ())) or 10)
    return Splits(train=TensorDictDataset(subset(train, tr_idx)), val=TensorDictDataset(subset(train, va_idx)),
                  test=TensorDictDataset(tensors(test_x, test_y)), info=info)


SOURCES = (Source(NAME, build, Cifar10Config),)
