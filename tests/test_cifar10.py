"""CIFAR-10's python batches (lit_gen/data/sources/cifar10.py): tiny files in the real layout, read through the
datamodule, the one-line error for a missing file, and a tiny training run."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from helpers import in_process, small
from lit_gen.config import load_config
from lit_gen.data.datamodule import GenerativeDataModule
from lit_gen.errors import UserError

PER_BATCH = 8


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
    cfg = load_config(None, ["model.name=vae", "data.name=cifar10", f"data.root={tmp_path}", "data.channels=3",
                             "data.val_fraction=0.25"])
    dm = GenerativeDataModule(cfg.data)
    dm.setup()
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
    cfg = load_config(None, ["model.name=vae", "data.name=cifar10", f"data.root={tmp_path}", "data.image_size=16"])
    dm = GenerativeDataModule(cfg.data)
    dm.setup()
    assert dm.splits.train[0]["image"].shape == (1, 16, 16)


@pytest.mark.parametrize("missing", ["data_batch_3", "test_batch", "batches.meta"])
def test_a_missing_file_is_one_line_naming_it_and_where_the_data_comes_from(tmp_path, missing):
    folder = write_cifar(tmp_path)
    (folder / missing).unlink()
    cfg = load_config(None, ["model.name=vae", "data.name=cifar10", f"data.root={tmp_path}"])
    with pytest.raises(UserError) as e:
        GenerativeDataModule(cfg.data).setup()
    msg = str(e.value)
    assert str(folder / missing) in msg and "cs.toronto.edu/~kriz/cifar.html" in msg and "\n" not in msg


def test_a_file_that_is_not_a_batch_is_refused_before_it_runs(tmp_path):
    folder = write_cifar(tmp_path)
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({"data": torch.zeros(3)}, f)  # a torch object: not what a CIFAR batch may hold
    cfg = load_config(None, ["model.name=vae", "data.name=cifar10", f"data.root={tmp_path}"])
    with pytest.raises(UserError, match="data_batch_2: not a CIFAR-10 python batch") as e:
        GenerativeDataModule(cfg.data).setup()
    assert "\n" not in str(e.value)


def test_the_cli_reports_a_missing_folder_in_one_line(tmp_path):
    r = in_process("fit", *small("vae", "data.name=cifar10", f"data.root={tmp_path}", f"run.dir={tmp_path}",
                                 "run.name=r"))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "cifar-10-batches-py" in lines[0] and "kriz/cifar" in lines[0], r.stderr[-2000:]


def test_a_tiny_run_trains_on_it(tmp_path):
    data = tmp_path / "data"
    write_cifar(data, per_batch=16)
    r = in_process("fit", *small("vae", "data.name=cifar10", f"data.root={data}", "data.channels=3",
                                 f"run.dir={tmp_path}", "run.name=r"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "r" / "checkpoints" / "last.ckpt").is_file()
