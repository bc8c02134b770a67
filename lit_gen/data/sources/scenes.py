"""The default, embedded data set ``scenes``: procedurally rendered 3-D objects.

Nothing is downloaded: the items are rendered at build time (see
:mod:`lit_gen.data.scenes`) and kept as uint8 tensors (20k 32 px grey scenes
take a few seconds on two cores). The scenes are fixed by
``data.scenes.seed``: train/val come from one stream, whose scene i does not
depend on ``num_train`` (val is a seeded subset of it), and test from
another; the training seed plays no part. The pictures do not depend on the
thread count (the renderer splits no sum between threads); on a CPU with
other vector units a uint8 value might rarely differ by one. Re-rendering an item's
``factors`` with a plain background reproduces its image exactly (textured
backgrounds are not stored in the items).

Items: ``image`` (C, H, W) float in [0, 1], ``label`` (shape class, long),
``factors`` (8,) float (``FACTOR_NAMES``; angles in radians), ``attributes``
(15,) float (one-hot shape, one-hot colour, then size, azimuth, elevation,
light in [-1, 1]) and ``mask`` (1, H, W) float in {0, 1}.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Optional

from lit_gen.bounds import bounded
from lit_gen.data.sources import Source
from lit_gen.errors import UserError

NAME = "scenes"
KEYS = frozenset({"image", "label", "factors", "attributes", "mask"})
GROUPS = ("azimuth", "elevation", "light", "intrinsic")  # each factor batch varies one (the scene's shape etc.)
_CHUNK = 1024  # scenes rendered per step while building
MIN_SIZE = 16


@dataclass
class ScenesConfig:
    """The embedded procedural data set (``data.name=scenes``)."""

    num_train: int = bounded(20000, ge=1)
    num_test: int = bounded(2000, ge=1)
    seed: int = 1234  # the data set's own seed: item i is the same whatever the training seed
    background: Literal["plain", "textured"] = "plain"
    # albedo factor on the right half and on the top half of each body (object x > 0, y > 0): below 1 its vertical
    # and horizontal mid-lines show its azimuth and elevation, also on the bodies symmetric about the vertical axis.
    # 1.0 is one tone, the scenes every non-DC-IGN result uses; the DC-IGN scenes configs turn it down
    half_shade: float = bounded(1.0, gt=0, le=1)


def info(cfg):
    from lit_gen.data import scenes as R
    from lit_gen.data.sources.base import SourceInfo

    return SourceInfo(
        name=NAME,
        channels=cfg.channels,
        image_size=cfg.image_size,
        keys=KEYS,
        num_classes=len(R.SHAPES),
        factor_names=R.FACTOR_NAMES,
        attribute_names=R.ATTRIBUTE_NAMES,
        attribute_groups=dict(R.ATTRIBUTE_GROUPS),
    )


def check(cfg) -> None:
    """The renderer's own rule (the config's types and bounds hold the rest)."""
    if cfg.image_size < MIN_SIZE:
        raise UserError(f"data.image_size={cfg.image_size}: scenes needs images of at least {MIN_SIZE} px")


def split_seed(seed: int, split: str) -> int:
    """The generator seed of a split ('train' or 'test'), derived from the data seed."""
    if split == "train":
        return int(seed)
    digest = hashlib.sha256(f"lit_gen.scenes/{split}/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generate(
    n: int,
    seed: int,
    image_size: int,
    channels: int,
    background: str,
    desc: str = "scenes",
    threads: Optional[int] = 1,
    half_shade: float = 1.0,
) -> dict:
    """Sample and render ``n`` scenes from ``seed``: the tensors of a split.

    Returns {"image": uint8 (n, C, H, W), "mask": uint8 (n, 1, H, W),
    "label": long (n,), "factors": float (n, 8), "attributes": float (n, 15)}.
    Shows a progress bar when it takes more than a couple of seconds.

    ``threads``: torch intra-op threads while rendering (restored after;
    None: keep the current setting). One by default: the renderer's many small
    elementwise ops gain little from a second core on an idle machine, and on a
    busy one OpenMP threads waiting for each other slow the build many times
    over (benchmarks/bench_scenes.py).
    """
    import torch
    from tqdm.auto import tqdm

    from lit_gen.data import scenes as R
    from lit_gen.data.sources.base import torch_threads

    g = torch.Generator().manual_seed(seed)
    f = R.sample_factors(n, g)
    images = torch.empty(n, channels, image_size, image_size, dtype=torch.uint8)
    masks = torch.empty(n, 1, image_size, image_size, dtype=torch.uint8)
    with torch_threads(threads), tqdm(total=n, desc=f"rendering {desc}", unit="img", delay=2.0, leave=False) as bar:
        for s in range(0, n, _CHUNK):
            part = R.select(f, slice(s, s + _CHUNK))
            img, m = R.render(part, image_size, channels, background, half_shade=half_shade)
            images[s : s + len(img)] = img.mul_(255.0).round_().to(torch.uint8)
            masks[s : s + len(img)] = m.to(torch.uint8)
            bar.update(len(img))
    return {
        "image": images,
        "label": f["shape"].clone(),
        "factors": R.factors_to_tensor(f),
        "attributes": R.attributes(f),
        "mask": masks,
    }


def build(cfg):
    """Render the train/val/test splits of ``scenes`` from ``cfg``.

    train/val: ``data.scenes.num_train`` scenes from the train stream, split by
    ``split_off_val(num_train, val_fraction, seed)``; test: ``num_test``
    scenes from the test stream.
    """
    from lit_gen.data.sources.base import MaskedDataset, Splits, split_off_val, subset

    sc = cfg.scenes
    args = (cfg.image_size, cfg.channels, sc.background)
    train_all = generate(sc.num_train, split_seed(sc.seed, "train"), *args, desc="scenes train", half_shade=sc.half_shade)
    test = generate(sc.num_test, split_seed(sc.seed, "test"), *args, desc="scenes test", half_shade=sc.half_shade)
    tr_idx, va_idx = split_off_val(sc.num_train, cfg.val_fraction, sc.seed)
    return Splits(
        train=MaskedDataset(subset(train_all, tr_idx)),
        val=MaskedDataset(subset(train_all, va_idx)),
        test=MaskedDataset(test),
        info=info(cfg),
    )


def renderer(cfg, training: bool = False):
    from lit_gen.data.renderers import ScenesFactorRenderer

    sc = cfg.scenes
    return ScenesFactorRenderer(cfg.image_size, cfg.channels, sc.background, sc.half_shade)


SOURCES = (Source(NAME, build, ScenesConfig, factor_groups=GROUPS, default_odds=(1.0, 1.0, 1.0, 10.0),
                  renderer=renderer, files=False, check=check),)
