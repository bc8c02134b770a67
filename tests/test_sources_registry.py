"""A source is one declaration: a toy source defined here, registered with ``register_source``, gets its
``data.<section>`` in the config (typed and range-checked) and trains, with no project file edited."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from helpers import in_process, small
from lit_gen.bounds import bounded
from lit_gen.config import load_config
from lit_gen.config.load import run_settings
from lit_gen.data.sources import Source, all_sources, register_source, unregister_source
from lit_gen.errors import UserError


@dataclass
class BlobsConfig:
    """A bright square on black at a random place; its label is the quadrant."""

    num_train: int = bounded(64, ge=1)
    side: int = bounded(6, ge=1)
    seed: int = 0


def build_blobs(cfg):
    import torch

    from lit_gen.data.sources.base import SourceInfo, Splits, TensorDictDataset, split_off_val, subset

    bc, s = cfg.blobs, cfg.image_size
    if bc.side > s:
        raise UserError(f"data.blobs.side={bc.side}: larger than data.image_size={s}")
    g = torch.Generator().manual_seed(bc.seed)
    n = bc.num_train + 16
    xy = torch.randint(0, s - bc.side + 1, (n, 2), generator=g)
    images = torch.zeros(n, cfg.channels, s, s)
    for i, (x, y) in enumerate(xy.tolist()):
        images[i, :, y : y + bc.side, x : x + bc.side] = 1.0
    labels = (xy[:, 0] >= s // 2).long() * 2 + (xy[:, 1] >= s // 2).long()
    data = {"image": images, "label": labels}
    tr, va = split_off_val(bc.num_train, cfg.val_fraction, bc.seed)
    test = subset(data, torch.arange(bc.num_train, n))
    info = SourceInfo(name="blobs", channels=cfg.channels, image_size=s, keys=frozenset({"image", "label"}),
                      num_classes=4)
    return Splits(TensorDictDataset(subset(data, tr)), TensorDictDataset(subset(data, va)), TensorDictDataset(test),
                  info)


@pytest.fixture
def blobs():
    yield register_source(Source("blobs", build_blobs, BlobsConfig, files=False))
    unregister_source("blobs")


def test_the_section_comes_from_the_declaration(blobs):
    cfg = load_config(None, ["model.name=vae", "data.name=blobs", "data.blobs.side=3"])
    assert cfg.data.blobs.side == 3 and cfg.data.blobs.num_train == 64
    assert set(run_settings(cfg)["data"]) & {"blobs", "scenes", "faces", "toy"} == {"blobs"}


@pytest.mark.parametrize("override,start", [
    ("data.blobs.num_train=0", "data.blobs.num_train=0: must be >= 1"),
    ("data.blobs.sied=3", "config: unknown key 'data.blobs.sied' (valid keys: num_train, side, seed)"),
    ("data.blobs.side=x", "config: data.blobs.side:"),
])
def test_the_new_section_is_checked_like_the_others(blobs, override, start):
    with pytest.raises(UserError) as e:
        load_config(None, ["model.name=vae", "data.name=blobs", override])
    assert str(e.value).startswith(start) and "\n" not in str(e.value), str(e.value)


def test_unregistered_it_is_gone(blobs):
    unregister_source("blobs")
    assert "blobs" not in all_sources()
    with pytest.raises(UserError, match="data.name='blobs': unknown data set"):
        load_config(None, ["model.name=vae", "data.name=blobs"])


def test_a_tiny_run_trains_on_it(blobs, tmp_path):
    r = in_process("fit", *small("vae", "data.name=blobs", "data.image_size=16", "data.blobs.num_train=48",
                                 f"run.dir={tmp_path}", "run.name=r"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "r" / "checkpoints" / "last.ckpt").is_file()
    assert "blobs:" in (tmp_path / "r" / "config.yaml").read_text()
