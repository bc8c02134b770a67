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
from typing import Optional

import torch
from tqdm.auto import tqdm

from lit_gen.data.scenes import renderer as R
from lit_gen.data.sources.base import (MaskedDataset, SourceInfo, Splits, check_image_cfg, split_off_val, subset,
                                      torch_threads)
from lit_gen.errors import UserError

NAME = "scenes"
KEYS = frozenset({"image", "label", "factors", "attributes", "mask"})
_CHUNK = 1024  # scenes rendered per step while building


def info(cfg) -> SourceInfo:
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


def validate(cfg) -> None:
    """UserError, naming the key, for settings the renderer cannot honour."""
    check_image_cfg(cfg)  # channels in {1, 3}, image_size a positive int, val_fraction in [0, 1)
    if cfg.image_size < 16:
        raise UserError(f"data.image_size={cfg.image_size}: scenes needs images of at least 16 px")
    sc = cfg.scenes
    if sc.background not in R.BACKGROUNDS:
        raise UserError(
            f"data.scenes.background={sc.background!r}: expected one of {', '.join(R.BACKGROUNDS)}"
        )
    if sc.num_train < 1:
        raise UserError(f"data.scenes.num_train={sc.num_train}: must be at least 1")
    if sc.num_test < 1:
        raise UserError(f"data.scenes.num_test={sc.num_test}: must be at least 1")


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
    elementwise ops gain < 2x from a second core on an idle machine, but on a
    busy one OpenMP threads waiting for each other made the build 10-25x slower
    (measured: 22k scenes in 7 s with one thread, 168 s with two).
    """
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


def build(cfg) -> Splits:
    """Render the train/val/test splits of ``scenes`` from ``cfg``.

    train/val: ``data.scenes.num_train`` scenes from the train stream, split by
    ``split_off_val(num_train, val_fraction, seed)``; test: ``num_test``
    scenes from the test stream.
    """
    validate(cfg)
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
