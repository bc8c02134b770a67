"""What every data source provides, and the small helpers they share.

A source turns a ``DataConfig`` into ``Splits``: three map-style datasets whose
items are dicts (``{"image": ..., "label"?: ..., "factors"?: ..., ...}``) plus a
``SourceInfo`` that says what the items hold. Images are float tensors in
[0, 1] with shape (C, H, W); each model maps them to its own range.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, default_collate

from lit_gen.errors import UserError


@dataclass(frozen=True)
class SourceInfo:
    """What a source's items hold. Models check their needs against ``keys``."""

    name: str
    channels: int
    image_size: int
    keys: frozenset  # subset of {"image", "label", "factors", "attributes", "mask"}
    value_range: tuple = (0.0, 1.0)
    num_classes: Optional[int] = None
    factor_names: tuple = ()
    attribute_names: tuple = ()
    # discrete attribute groups: name -> (start, stop) column slice of the one-hot block
    attribute_groups: dict = field(default_factory=dict)
    binary: bool = False  # pixels are exactly {0, 1}
    vector_dim: Optional[int] = None  # set for vector data (toy densities): items are (D,), not (C, H, W)
    # the groups a factor batch or pair varies: {group: (factor, ...)}, in order; empty: ``default_groups``
    factor_groups: dict = field(default_factory=dict)
    pooled: bool = False  # factor batches pick stored items (PoolVarier) even where a renderer exists (a grid)


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset
    info: SourceInfo


class ItemViews(Sequence):
    """A dict of batched tensors as the sequence of per-item dicts (views) that any ``collate_fn`` expects, holding the
    batch itself too, so :func:`collate_items` hands it on without stacking the views again.

    The per-item dicts are made on first access only: :func:`collate_items` never reads them, and making them costs
    more than the batch's fetch itself (benchmarks/bench_loader.py)."""

    def __init__(self, batch: dict):
        self.batch = batch
        self._items: Optional[list] = None

    def _views(self) -> list:
        if self._items is None:
            cols = {k: v.unbind(0) for k, v in self.batch.items()}
            self._items = [dict(zip(cols, vals)) for vals in zip(*cols.values())]
        return self._items

    def __len__(self) -> int:
        return len(next(iter(self.batch.values())))

    def __getitem__(self, i):
        return self._views()[i]

    def __iter__(self):
        return iter(self._views())


def collate_items(items: Sequence):
    """``default_collate``, except that a batch fetched whole (:class:`ItemViews`) is passed on as it came."""
    if isinstance(items, ItemViews):
        return items.batch
    return default_collate(items)


class TensorDictDataset(Dataset):
    """Map-style dataset over aligned tensors; item i is ``{k: t[i]}``.

    Images may be stored as uint8 (0..255) to save memory; they are returned
    as float in [0, 1].
    """

    def __init__(self, tensors: dict, transform=None):
        lengths = {len(t) for t in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"tensors have different lengths: {lengths}")
        self.tensors = tensors
        self.transform = transform

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict:
        item = {k: t[i] for k, t in self.tensors.items()}
        img = item["image"]
        if img.dtype == torch.uint8:
            item["image"] = img.float().div_(255.0)
        if self.transform is not None:
            item = self.transform(item)
        return item

    def __getitems__(self, indices: list):
        """A batch's items with one indexing and one conversion per key instead of one per item (the DataLoader
        calls this when it exists): per-item fetching was a large part of lit_gen's per-epoch lead over pythae on
        MNIST (benchmarks/bench_pythae.py). Returns per-item views, so any collate_fn still works."""
        if self.transform is not None:
            return [self[i] for i in indices]
        idx = torch.as_tensor(indices, dtype=torch.long)
        batch = {k: t[idx] for k, t in self.tensors.items()}
        if batch["image"].dtype == torch.uint8:
            batch["image"] = batch["image"].float().div_(255.0)
        return ItemViews(batch)


class MaskedDataset(TensorDictDataset):
    """TensorDictDataset whose uint8 masks come out as float {0, 1} (the rendered sources: scenes, faces)."""

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        item["mask"] = item["mask"].float()
        return item


@contextmanager
def torch_threads(n: Optional[int]):
    """Run the block with ``n`` intra-op threads (None: leave as is), then restore.

    The renderers build their splits with one: their many small ops gain little from a second core, and on a busy
    machine OpenMP threads waiting for each other slow a build many times over (benchmarks/bench_scenes.py).
    """
    old = torch.get_num_threads()
    if n is not None and n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def conform_images(images: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """Bring a (N, C, H, W) uint8 or float batch to ``channels`` and ``size``.

    Grey to RGB repeats the channel; RGB to grey uses ITU-R 601 luma weights.
    A square image of another size is resized with antialiasing; a non-square
    one is resized on its short side and centre-cropped. Returns the input
    dtype (uint8 stays uint8, rounded).
    """
    dtype = images.dtype
    x = images.float()
    c = x.shape[1]
    if c != channels:
        if c == 1 and channels == 3:
            x = x.repeat(1, 3, 1, 1)
        elif c == 3 and channels == 1:
            w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
            x = (x * w).sum(1, keepdim=True)
        else:
            raise ValueError(f"cannot convert {c} channels to {channels}")
    h, w_ = x.shape[-2:]
    if (h, w_) != (size, size):
        scale = size / min(h, w_)
        nh, nw = max(size, round(h * scale)), max(size, round(w_ * scale))
        if (nh, nw) != (h, w_):
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[..., top : top + size, left : left + size]
    if dtype == torch.uint8:
        x = x.round().clamp_(0, 255).to(torch.uint8)
    return x.contiguous()


def split_off_val(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic train/val index split of ``range(n)``."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_val = int(round(n * val_fraction))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def show_root(root: Path) -> str:
    """``root`` as the user wrote it, plus the absolute path when it was relative."""
    return str(root) if root.is_absolute() else f"{root} (= {root.resolve()})"


def resolve_root(cfg, expected: str) -> Path:
    """``data.root`` as a Path; UserError (saying what was ``expected`` there) if it is not a folder."""
    raw = getattr(cfg, "root", None)
    if raw is None or str(raw).strip() == "":
        raise UserError(f"data.root is empty; expected {expected}")
    root = Path(str(raw)).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "no such folder"
        raise UserError(f"data.root={show_root(root)}: {what}; expected {expected} (set data.root or $LIT_GEN_DATA)")
    return root


def conform_uint8(images: torch.Tensor, channels: int, size: int, chunk: int = 8192) -> torch.Tensor:
    """``conform_images`` in chunks (bounded float memory) for a (N, C, H, W) uint8 batch.

    Grey-to-RGB is returned as an ``expand``ed view of the grey result (the three
    channels share memory), which is what ``conform_images`` would compute, at a
    third of the memory. Index such a tensor with :func:`subset`, which keeps the view.
    """
    n, c = images.shape[:2]
    grey_to_rgb = c == 1 and channels == 3
    target_c = 1 if grey_to_rgb else channels
    if c == target_c and tuple(images.shape[-2:]) == (size, size):
        out = images
    else:
        parts = [conform_images(images[i : i + chunk], target_c, size) for i in range(0, n, chunk)]
        out = torch.cat(parts) if parts else images.new_zeros((0, target_c, size, size))
    if grey_to_rgb:
        out = out.expand(-1, 3, -1, -1)
    return out


def subset(tensors: dict, idx: torch.Tensor) -> dict:
    """Index aligned tensors; keeps grey-to-RGB ``expand``ed views (stride 0 on C) as views."""
    out = {}
    for k, v in tensors.items():
        if v.dim() == 4 and v.shape[1] > 1 and v.stride(1) == 0:
            out[k] = v[:, :1][idx].expand(-1, v.shape[1], -1, -1)
        else:
            out[k] = v[idx]
    return out
