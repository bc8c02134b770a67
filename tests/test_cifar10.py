"""CIFAR-10's python batches (lit_gen/data/sources/cifar10.py): tiny files in the real layout, read through the
datamodule, and the one-line error for a foreign file (missing files, the CLI and a tiny run:
tests/test_sources_registry.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lit_gen.config import load_config
from lit_gen.data.datamodule import GenerativeDataModule
from lit_gen.errors import UserError

PER_BATCH = 8


def built(name: str, root, *overrides) -> GenerativeDataModule:
    """The datamodule of ``data.name`` read from ``root`` through the config loader, set up."""
    cfg = load_config(None, ["model.name=vae", f"data.name={name}", f"data.root={root}", *overrides])
    dm = GenerativeDataModule(cfg.data)
    dm.setup()
    return dm


def write_cifar(root, per_batch: int = PER_BATCH):
    """The five training batches, the test batch and batches.meta, as the python version lays them out."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [(k + i) % 10 for i in range(per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                                             "frog", "horse", "ship", "truck")],
                     b"num_cases_per_batch": per_batch, b"num_vis": 3072}, f, protocol=2)
    return folder


def test_the_batches_read_through_the_datamodule(tmp_path):
    folder = write_cifar(tmp_path)
    dm = built("cifar10", tmp_path, "data.channels=3", "data.val_fraction=0.25")
    assert (len(dm.splits.train), len(dm.splits.val), len(dm.splits.test)) == (30, 10, PER_BATCH)
    info = dm.info
    assert info.keys == {"image", "label"} and info.num_classes == 10 and info.channels == 3
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    item = dm.splits.test[3]
    want = torch.from_numpy(raw[b"data"][3].reshape(3, 32, 32)).float() / 255.0
    assert torch.equal(item["image"], want) and int(item["label"]) == raw[b"labels"][3]
    batch = next(iter(dm.val_dataloader()))
    assert batch["image"].shape == (10, 3, 32, 32) and batch["label"].dtype == torch.long


def test_grey_and_smaller(tmp_path):
    write_cifar(tmp_path)
    dm = built("cifar10", tmp_path, "data.image_size=16")
    assert dm.splits.train[0]["image"].shape == (1, 16, 16)


def test_a_file_that_is_not_a_batch_is_refused_before_it_runs(tmp_path):
    folder = write_cifar(tmp_path)
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({"data": torch.zeros(3)}, f)  # a torch object: not what a CIFAR batch may hold
    with pytest.raises(UserError, match="data_batch_2: not a CIFAR-10 python batch") as e:
        built("cifar10", tmp_path)
    assert "\n" not in str(e.value)
