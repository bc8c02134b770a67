"""CelebA's aligned faces with their 40 binary attributes (``data.name=celeba``), in torchvision's layout::

    ROOT/celeba/img_align_celeba/000001.jpg ...
    ROOT/celeba/list_attr_celeba.txt       (the count, the 40 names, then "<file> <40 x -1|1>" per image)
    ROOT/celeba/list_eval_partition.txt    ("<file> <0|1|2>": train, val, test)

``ROOT`` is ``data.root``; the folder's name is ``data.celeba.folder``. Each image is centre-cropped to
``data.celeba.crop`` pixels (the face; the aligned images are 178 x 218) and resized to ``data.image_size``,
once at build time. Items: ``image`` (C, H, W) in [0, 1] and ``attributes`` (40,) float in {0, 1}, in the file's
order, so the Attribute2Image models condition on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from lit_gen.bounds import bounded
from lit_gen.data.sources import Source
from lit_gen.errors import UserError

NAME = "celeba"
IMAGES = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
SPLITS = ("train", "val", "test")  # partition 0, 1, 2
WHERE = ("CelebA's aligned images and annotations (img_align_celeba.zip, list_attr_celeba.txt, "
         "list_eval_partition.txt from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html)")


@dataclass
class CelebAConfig:
    """CelebA (``data.name=celeba``): the aligned faces and their attributes."""

    folder: str = "celeba"  # under data.root
    crop: int = bounded(140, ge=1)  # side of the centre square kept before the resize, in the images' pixels
    # at most this many images per split, the first in the partition file's order (null: all)
    max_items: Optional[int] = bounded(None, ge=1, note="(or null for all)")


def _need(path: Path) -> Path:
    if not path.exists():
        raise UserError(f"data.name=celeba: no {path} (data.root, data.celeba.folder); expected {WHERE}")
    return path


def read_attributes(path: Path) -> tuple:
    """(the 40 names, {file: [40 x 0|1]}) of ``list_attr_celeba.txt``; UserError naming the line that is wrong."""
    lines = _need(path).read_text().splitlines()
    if len(lines) < 2:
        raise UserError(f"{path}: expected the image count, the attribute names, then one line per image")
    names = tuple(lines[1].split())
    rows = {}
    for i, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise UserError(f"{path}, line {i}: expected a file name and {len(names)} values of 1 or -1")
        rows[parts[0]] = [1.0 if v == "1" else 0.0 for v in parts[1:]]
    return names, rows


def read_partition(path: Path) -> dict:
    """{split: [file, ...]} of ``list_eval_partition.txt``."""
    out = {s: [] for s in SPLITS}
    for i, line in enumerate(_need(path).read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise UserError(f"{path}, line {i}: expected '<file> <0|1|2>' (train, val, test)")
        out[SPLITS[int(parts[1])]].append(parts[0])
    return out


def load_image(path: Path, channels: int, crop: int, size: int):
    """(size, size, C) uint8: the centre ``crop`` square (the image's short side if smaller), resized."""
    import numpy as np
    from PIL import Image

    with Image.open(_need(path)) as im:
        im = im.convert("L" if channels == 1 else "RGB")
    w, h = im.size
    c = min(crop, w, h)
    left, top = (w - c) // 2, (h - c) // 2
    im = im.crop((left, top, left + c, top + c))
    if c != size:
        im = im.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    a = np.asarray(im, dtype=np.uint8)
    return a[:, :, None] if a.ndim == 2 else a


def build(cfg):
    import numpy as np
    import torch

    from lit_gen.data.sources.base import SourceInfo, Splits, TensorDictDataset, resolve_root

    cc = cfg.celeba
    root = resolve_root(cfg, f"a folder holding {cc.folder}/ ({WHERE})")
    base = root / cc.folder
    names, attrs = read_attributes(base / ATTR_FILE)
    partition = read_partition(base / PARTITION_FILE)
    images = _need(base / IMAGES)
    parts = {}
    for split in SPLITS:
        files = partition[split][: cc.max_items]
        missing = [f for f in files if f not in attrs]
        if missing:
            raise UserError(f"{base / ATTR_FILE}: no attributes for {missing[0]} ({split} in {PARTITION_FILE})")
        x = np.stack([load_image(images / f, cfg.channels, cc.crop, cfg.image_size) for f in files]) if files else \
            np.zeros((0, cfg.image_size, cfg.image_size, cfg.channels), np.uint8)
        parts[split] = TensorDictDataset({
            "image": torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(),
            "attributes": torch.tensor([attrs[f] for f in files], dtype=torch.float32).reshape(len(files), len(names)),
        })
    info = SourceInfo(name=NAME, channels=cfg.channels, image_size=cfg.image_size,
                      keys=frozenset({"image", "attributes"}), attribute_names=names)
    return Splits(train=parts["train"], val=parts["val"], test=parts["test"], info=info)


SOURCES = (Source(NAME, build, CelebAConfig),)
