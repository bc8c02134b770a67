"""Any folder of images (``data.name=folder``; the folder is ``data.root``).

What is read
    Every ``.png``, ``.jpg``, ``.jpeg``, ``.bmp`` and ``.webp`` file under
    ``data.root``, recursively, in sorted path order (case-insensitive
    extensions). Hidden files and folders (name starting with ``.``) are
    ignored. Each image is decoded with Pillow (EXIF orientation applied,
    transparency composited over black, 16-bit grey scaled to 8 bit), converted
    to ``data.channels`` (1: grey "L", 3: "RGB"), resized on its short side
    (bilinear, antialiased) and centre-cropped to ``data.image_size`` — the same
    geometry as ``base.conform_images``. This happens once, at build time; the
    images are kept in memory as uint8.

Labels
    Only when the images sit in class subfolders: if every image is inside a
    subfolder of ``data.root`` (at any depth) and there are at least two such
    top-level subfolders, label = index of the top-level subfolder in sorted
    order, and ``SourceInfo.num_classes`` is their number (as torchvision's
    ``ImageFolder``). Otherwise items have no label.

Unreadable files
    A corrupt or unreadable image among good ones is SKIPPED; after loading,
    one ``UserWarning`` says how many were skipped and names the first one.
    An empty folder (no image files) or a folder where no image can be read
    raises ``UserError`` naming the path.

Splits
    Folders have no official test split. ``val`` is ``data.val_fraction`` of
    the images (``split_off_val(n, frac, seed=0)``), ``train`` the rest, and
    ``test`` is the SAME held-out images as ``val`` (a separate dataset object
    over the same tensors), so test metrics are held-out but not independent of
    model selection on val.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lit_gen.data.sources import Source
from lit_gen.errors import UserError

if TYPE_CHECKING:  # annotations only: a config check imports this module without torch
    from lit_gen.data.sources.base import Splits

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
EXPECTED = "a folder of images (.png/.jpg/.jpeg/.bmp/.webp, searched recursively; optionally in class subfolders)"


def find_images(root: Path) -> list:
    """Image files under ``root`` (recursive, sorted, hidden entries skipped)."""
    files, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink cycle or a second link to the same folder
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in EXTENSIONS:
                files.append(Path(dirpath) / f)
    return sorted(files, key=lambda p: p.relative_to(root).parts)


def class_labels(root: Path, files: list):
    """(labels, class names) when every file sits in one of >= 2 top-level subfolders, else (None, ())."""
    parts = [p.relative_to(root).parts for p in files]
    if not parts or any(len(q) < 2 for q in parts):
        return None, ()
    classes = tuple(sorted({q[0] for q in parts}))
    if len(classes) < 2:
        return None, ()
    index = {c: i for i, c in enumerate(classes)}
    return [index[q[0]] for q in parts], classes


def _to_mode(im, channels: int):
    from PIL import Image

    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        if im.mode != "I" or a.max(initial=0) > 255:
            a = a / 257.0
        im = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if a.max(initial=0) <= 1.0:
            a = a * 255.0
        im = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return im.convert("L" if channels == 1 else "RGB")


def load_image(path, channels: int, size: int) -> np.ndarray:
    """One image as (size, size, channels) uint8; raises whatever Pillow raises on a bad file."""
    from PIL import Image, ImageOps

    mode = "L" if channels == 1 else "RGB"
    with Image.open(path) as im:
        im.draft(mode, (size, size))  # JPEG: decode at a reduced scale, still >= size on both sides
        im.load()
        im = ImageOps.exif_transpose(im)
        im = _to_mode(im, channels)
    w, h = im.size
    if w < 1 or h < 1:
        raise ValueError(f"empty image {w}x{h}")
    if (w, h) != (size, size):
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.Resampling.BILINEAR)
        top, left = (nh - size) // 2, (nw - size) // 2
        im = im.crop((left, top, left + size, top + size))
    a = np.asarray(im, dtype=np.uint8)
    return a[:, :, None] if a.ndim == 2 else a


def load_images(files: list, channels: int, size: int, workers=None):
    """(images (N, size, size, C) uint8 of the readable files, ok mask, [(path, error)] of the others)."""
    out = np.empty((len(files), size, size, channels), dtype=np.uint8)
    ok = np.zeros(len(files), dtype=bool)
    bad = []

    def one(i):
        try:
            out[i] = load_image(files[i], channels, size)
            ok[i] = True
        except Exception as e:  # any decode failure: the file is skipped and counted
            bad.append((files[i], f"{type(e).__name__}: {e}"))

    workers = workers or min(8, os.cpu_count() or 1)
    if workers > 1 and len(files) > 1:
        with ThreadPoolExecutor(workers) as pool:  # Pillow releases the GIL while decoding
            list(pool.map(one, range(len(files))))
    else:
        for i in range(len(files)):
            one(i)
    return out, ok, sorted(bad)


def build(cfg) -> Splits:
    """``data.name=folder``: the images under ``data.root``."""
    import torch

    from lit_gen.data.sources.base import (
        SourceInfo, Splits, TensorDictDataset, resolve_root, show_root, split_off_val, subset)

    root = resolve_root(cfg, EXPECTED)
    files = find_images(root)
    if not files:
        raise UserError(
            f"data.root={show_root(root)}: no image files found in it or its subfolders; expected {EXPECTED}"
        )
    labels, classes = class_labels(root, files)
    arr, ok, bad = load_images(files, cfg.channels, cfg.image_size)
    if not ok.any():
        path, err = bad[0]
        raise UserError(
            f"data.root={show_root(root)}: none of the {len(files)} image files could be read "
            f"(e.g. {path.relative_to(root).as_posix()}: {err}); expected readable PNG/JPEG/BMP/WebP images"
        )
    if bad:
        path, err = bad[0]
        warnings.warn(
            f"data.root={show_root(root)}: skipped {len(bad)} of {len(files)} image files that could not be read "
            f"(first: {path.relative_to(root).as_posix()}: {err})",
            UserWarning,
            stacklevel=2,
        )
    keep = np.flatnonzero(ok)
    imgs = arr if ok.all() else arr[keep]
    tensors = {"image": torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()}
    del arr, imgs
    if labels is not None:
        tensors["label"] = torch.tensor(labels, dtype=torch.int64)[torch.from_numpy(keep)]
    tr_idx, va_idx = split_off_val(len(keep), float(cfg.val_fraction), seed=0)
    val = subset(tensors, va_idx)
    info = SourceInfo(
        name="folder",
        channels=cfg.channels,
        image_size=cfg.image_size,
        keys=frozenset(tensors),
        num_classes=len(classes) if labels is not None else None,
    )
    return Splits(
        train=TensorDictDataset(subset(tensors, tr_idx)),
        val=TensorDictDataset(val),
        test=TensorDictDataset(val),
        info=info,
    )


SOURCES = (Source("folder", build),)
