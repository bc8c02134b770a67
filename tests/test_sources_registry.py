"""A source is one declaration: a toy source defined here, registered with ``register_source``, gets its
``data.<section>`` in the config (typed and range-checked) and trains, with no project file edited; and the two
sources added as one module each (cifar10, celeba) train and report missing data through the CLI."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers import in_process, small
from test_celeba import write_celeba
from test_cifar10 import built, write_cifar

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

    from lit_gen.data.sources.base import (
        SourceInfo,
        Splits,
        TensorDictDataset,
        split_off_val,
        subset,
    )

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


# (data.name, the family's config, the files' writer, what the one-line error names, overrides of a tiny run)
FILE_SOURCES = [
    ("cifar10", "vae", write_cifar, ("cifar-10-batches-py", "kriz/cifar"), ["data.channels=3"]),
    ("celeba", "cvae", lambda root: write_celeba(root, counts=(16, 4, 4)), ("celeba", "CelebA"),
     ["data.batch_size=8"]),
]


@pytest.mark.parametrize("name,family,write,named,more", FILE_SOURCES, ids=[s[0] for s in FILE_SOURCES])
def test_the_cli_reports_missing_data_in_one_line(tmp_path, name, family, write, named, more):
    r = in_process("fit", *small(family, f"data.name={name}", f"data.root={tmp_path}", f"run.dir={tmp_path}",
                                 "run.name=r"))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and all(n in lines[0] for n in named), r.stderr[-2000:]


@pytest.mark.parametrize("name,family,write,named,more", FILE_SOURCES, ids=[s[0] for s in FILE_SOURCES])
def test_a_tiny_run_trains_on_each_file_source(tmp_path, name, family, write, named, more):
    """celeba trains the CVAE (Attribute2Image) conditioned on its 40 attributes."""
    data = tmp_path / "data"
    write(data)
    r = in_process("fit", *small(family, f"data.name={name}", f"data.root={data}", *more, f"run.dir={tmp_path}",
                                 "run.name=r"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "r" / "checkpoints" / "last.ckpt").is_file()


MISSING = [("cifar10", write_cifar, missing, "cs.toronto.edu/~kriz/cifar.html")
           for missing in ("data_batch_3", "test_batch", "batches.meta")]
MISSING += [("celeba", write_celeba, missing, "mmlab.ie.cuhk.edu.hk/projects/CelebA")
            for missing in ("list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba/000004.jpg")]


@pytest.mark.parametrize("name,write,missing,where", MISSING, ids=[f"{m[0]}-{m[2]}" for m in MISSING])
def test_a_missing_file_is_one_line_naming_it_and_where_the_data_comes_from(tmp_path, name, write, missing, where):
    folder = write(tmp_path)
    (folder / missing).unlink()
    with pytest.raises(UserError) as e:
        built(name, tmp_path)
    msg = str(e.value)
    assert str(folder / missing) in msg and where in msg and "\n" not in msg, msg


@pytest.mark.parametrize("name", ["scenes", "faces", "sprites", "mnist", "binarized_mnist", "folder", "cifar10",
                                  "celeba"])
def test_the_declared_cache_key_is_the_feature_nets(name):
    """The declaration says what of the data config changes a source's items (the feature-net cache key is it:
    metrics.feature_cache.data_key); batching and the other sources' sections do not."""
    from omegaconf import OmegaConf

    from lit_gen.config.schema import data_config
    from lit_gen.data.sources import source

    data = OmegaConf.merge(OmegaConf.structured(data_config()), {"name": name, "root": "/tmp", "binarize": "static"})
    full = OmegaConf.to_container(data, resolve=True)
    assert source(name).cache_key(full)["name"] == name
    assert source(name).cache_key(dict(full, image_size=64)) != source(name).cache_key(full)
    other = dict(full, batch_size=3, factor_pairs=2, toy={"seed": 5})
    assert source(name).cache_key(other) == source(name).cache_key(full)
