"""``sprites``: dSprites' factor grid (Matthey et al. 2017), rendered procedurally or read from the official file.

The grid: 3 shapes (square, ellipse, heart) x 6 scales x 40 orientations x 32 x 32 positions, 737,280 items, white
sprites on black. Item ``i`` of the grid has the class indices of ``index_to_classes`` (mixed radix, shape
slowest, pos_y fastest: the row order of the official file). Val and test are disjoint seeded subsets of the grid
(``data.sprites.num_val`` / ``num_test``, ``data.sprites.seed``); train is every other item.

By default nothing is downloaded: :func:`render` draws the sprites at ``data.image_size`` with pixel-centre
sampling, no anti-aliasing (binary pixels), the same pixels whatever the thread count (elementwise ops only). Its
sprites follow dSprites' geometry but its pixels are NOT the official file's, so published numbers on dSprites do
not transfer exactly. With ``data.root`` a ``*.npz`` file, or a folder holding
``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``, the items are that file's rows instead. Either way an item's
``factors`` are the grid VALUES of its class indices (below), so the factor tensors are identical whichever way the
data was made.

Items: ``image`` (C, H, W) float in [0, 1], ``label`` (shape class, long) and ``factors`` (5,) float
(``FACTOR_NAMES``: shape class index as a float, scale, orientation in radians, pos_x, pos_y).
"""

from __future__ import annotations

import functools
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from lit_gen.bounds import bounded
from lit_gen.data.sources import Source
from lit_gen.errors import UserError

if TYPE_CHECKING:  # annotations only: a config check imports this module without torch
    import torch

    from lit_gen.data.sources.base import SourceInfo, Splits

NAME = "sprites"
KEYS = frozenset({"image", "label", "factors"})
OFFICIAL_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
OFFICIAL_SIZE = 64
MIN_SIZE = 16  # below this a scale-0.5 square is under 2.5 px across

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
SHAPES = ("square", "ellipse", "heart")
SHAPE_VALUES = (0.0, 1.0, 2.0)
SCALES = tuple(float(v) for v in np.linspace(0.5, 1.0, 6))
ORIENTATIONS = tuple(float(v) for v in np.linspace(0.0, 2 * math.pi, 40, endpoint=False))
POSITIONS = tuple(float(v) for v in np.linspace(0.0, 1.0, 32))
GRID_VALUES = (SHAPE_VALUES, SCALES, ORIENTATIONS, POSITIONS, POSITIONS)  # per factor, in FACTOR_NAMES order
GRID_SIZES = tuple(len(v) for v in GRID_VALUES)
GRID_LEN = math.prod(GRID_SIZES)  # 737,280
FACTOR_GROUPS = {"scale": ("scale",), "orientation": ("orientation",), "pos_x": ("pos_x",), "pos_y": ("pos_y",),
                 "intrinsic": ("shape",)}
SPRITES_GROUPS = tuple(FACTOR_GROUPS)  # the order of data.factor_odds
FACTOR_RANGES = {"scale": (0.5, 1.0), "orientation": (0.0, 2 * math.pi), "pos_x": (0.0, 1.0), "pos_y": (0.0, 1.0)}
DISCRETE = ("shape",)


@functools.cache
def _grids() -> tuple:
    import torch

    return tuple(torch.tensor(v, dtype=torch.float32) for v in GRID_VALUES)


@functools.cache
def _strides():
    import torch

    return torch.tensor([math.prod(GRID_SIZES[j + 1:]) for j in range(len(GRID_SIZES))])


# Geometry at scale 1, in image widths (the image is [0, 1]^2). The square's side is 0.3 of the image (dSprites:
# about 1/4..1/3); the ellipse's axes are 2:1; the heart is about as wide as the square. MARGIN is the largest
# distance of a sprite pixel from its centre (the square's half diagonal, 0.212) rounded up, so a sprite of any
# orientation stays inside the image at every position: centres span MARGIN..1-MARGIN (dSprites: about 0.2..0.8).
SQUARE_HALF = 0.15
ELLIPSE_AXES = (0.18, 0.09)
HEART_UNIT = 0.14  # image widths per unit of the heart curve, which spans x in [-1.14, 1.14], y in [-1, 1.24]
HEART_SHIFT = 0.118  # the curve's y at the middle of its bounding box: the heart rotates about that point
MARGIN = 0.22


# ----------------------------------------------------------------------------- the grid


def index_to_classes(index: torch.Tensor) -> torch.Tensor:
    """(N,) grid item indices -> (N, 5) long class indices (``FACTOR_NAMES`` order)."""
    import torch

    index = torch.as_tensor(index, dtype=torch.long)
    sizes = torch.tensor(GRID_SIZES)
    return torch.div(index.unsqueeze(1), _strides(), rounding_mode="floor") % sizes


def classes_to_index(classes: torch.Tensor) -> torch.Tensor:
    """(N, 5) class indices -> (N,) long grid item indices."""
    import torch

    return (torch.as_tensor(classes, dtype=torch.long) * _strides()).sum(1)


def classes_to_factors(classes: torch.Tensor) -> torch.Tensor:
    """(N, 5) class indices -> (N, 5) float factor values."""
    import torch

    return torch.stack([grid[c] for grid, c in zip(_grids(), classes.long().unbind(1))], 1)


def snap(factors: torch.Tensor) -> torch.Tensor:
    """(N, 5) factor values -> (N, 5) long class indices of the nearest grid values (orientation circularly)."""
    import torch

    cols = []
    for j, grid in enumerate(_grids()):
        d = (factors[:, j : j + 1].float() - grid).abs()
        if FACTOR_NAMES[j] == "orientation":
            d = torch.remainder(d, 2 * math.pi)
            d = torch.minimum(d, 2 * math.pi - d)
        cols.append(d.argmin(1))
    return torch.stack(cols, 1)


# ----------------------------------------------------------------------------- the procedural renderer


def _square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u.abs() <= SQUARE_HALF) & (v.abs() <= SQUARE_HALF)


def _ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    a, b = ELLIPSE_AXES
    return (u / a).square() + (v / b).square() <= 1.0


def _heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    x = u / HEART_UNIT
    y = v / HEART_UNIT + HEART_SHIFT
    return (x.square() + y.square() - 1.0).pow(3) - x.square() * y.pow(3) <= 0.0


_SHAPE_FNS = (_square, _ellipse, _heart)


def _local(f: torch.Tensor, s: int) -> tuple:
    """Each pixel centre in the sprite's own frame (upright, scale 1, image widths): (u, v), each (N, S, S)."""
    import torch

    n = len(f)
    centres = (torch.arange(s, dtype=torch.float32) + 0.5) / s
    span = 1.0 - 2 * MARGIN
    dx = centres.view(1, 1, s) - (MARGIN + span * f[:, 3]).view(n, 1, 1)
    dy = (MARGIN + span * f[:, 4]).view(n, 1, 1) - centres.view(1, s, 1)  # y up, so a turn is counter-clockwise
    inv = 1.0 / f[:, 1].view(n, 1, 1)
    cos, sin = f[:, 2].cos().view(n, 1, 1) * inv, f[:, 2].sin().view(n, 1, 1) * inv
    # the sprite turned by +theta, sampled at a pixel, is the upright sprite sampled at the pixel turned by -theta
    return cos * dx + sin * dy, cos * dy - sin * dx


def render(factors: torch.Tensor, image_size: int = OFFICIAL_SIZE) -> torch.Tensor:
    """(N, 5) grid factor values -> (N, 1, S, S) float images in {0, 1}: white sprites on black.

    Positions move the sprite's centre right (pos_x) and down (pos_y, image rows, as in dSprites); orientation
    turns it counter-clockwise as seen; sizes scale with ``scale``. Deterministic and vectorised over the batch.
    """
    import torch

    f = factors.float()
    s = int(image_size)
    cls = f[:, 0].round().long()
    if ((cls < 0) | (cls >= len(SHAPES))).any():
        raise ValueError(f"shape class indices must be in 0..{len(SHAPES) - 1}")
    out = torch.zeros(len(f), s, s)
    # one shape's rows at a time: every pixel is tested against its own shape only (half the time of all three)
    for k, inside in enumerate(_SHAPE_FNS):
        rows = (cls == k).nonzero().squeeze(1)
        if len(rows):
            out[rows] = inside(*_local(f[rows], s)).float()
    return out.unsqueeze(1)


# ----------------------------------------------------------------------------- the official file


def official_file(cfg) -> Optional[Path]:
    """The official file that ``data.root`` names (a ``*.npz``, or a folder holding it), or None: render."""
    from lit_gen.data.sources.base import show_root

    raw = getattr(cfg, "root", None)
    if raw is None or str(raw).strip() == "":
        return None
    root = Path(str(raw)).expanduser()
    if root.suffix == ".npz":
        if not root.is_file():
            raise UserError(f"data.root={show_root(root)}: no such file; expected dSprites' {OFFICIAL_FILE}")
        return root
    candidate = root / OFFICIAL_FILE
    return candidate if candidate.is_file() else None


def read_file(path: Path) -> dict:
    """The rows of a file of the official layout: {"images": uint8 (N, 1, 64, 64) in {0, 255}, "classes": long
    (N, 5) class indices in ``FACTOR_NAMES`` order}. UserError naming the path and what is wrong."""
    import torch

    from lit_gen.data.sources.base import show_root

    where = f"data.root={show_root(path)}"
    try:
        with np.load(path, allow_pickle=False) as z:
            for key in ("imgs", "latents_classes"):
                if key not in z.files:
                    raise UserError(f"{where}: no '{key}' array in the file (dSprites' layout: imgs, latents_classes)")
            imgs, classes = z["imgs"], z["latents_classes"]
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{where}: cannot read it as an .npz file ({why})") from None
    size = (OFFICIAL_SIZE, OFFICIAL_SIZE)
    if imgs.ndim != 3 or imgs.shape[1:] != size:
        raise UserError(f"{where}: imgs has shape {tuple(imgs.shape)}; expected (N, {OFFICIAL_SIZE}, {OFFICIAL_SIZE})")
    if classes.shape != (len(imgs), 6) or not np.issubdtype(classes.dtype, np.integer):
        raise UserError(f"{where}: latents_classes has shape {tuple(classes.shape)} ({classes.dtype}); expected "
                        f"({len(imgs)}, 6) integers, one row per image")
    if len(imgs) == 0:
        raise UserError(f"{where}: the file holds no images")
    cls = torch.from_numpy(classes[:, 1:].astype(np.int64))  # the first column is the colour, always 0
    for j, name in enumerate(FACTOR_NAMES):
        if cls[:, j].min() < 0 or cls[:, j].max() >= GRID_SIZES[j]:
            raise UserError(f"{where}: latents_classes column {name} holds {int(cls[:, j].max())}; expected class "
                            f"indices 0..{GRID_SIZES[j] - 1}")
    # min/max, not an elementwise test: the full file's imgs are 3 GB
    if not (np.issubdtype(imgs.dtype, np.integer) or imgs.dtype == bool) or imgs.min() < 0 or imgs.max() > 1:
        raise UserError(f"{where}: imgs must hold the pixel values 0 and 1 (integers); got {imgs.dtype} values in "
                        f"[{imgs.min()}, {imgs.max()}]")
    images = torch.from_numpy(np.ascontiguousarray(imgs, dtype=np.uint8)).unsqueeze(1).mul_(255)
    return {"images": images, "classes": cls}


# ----------------------------------------------------------------------------- the data set


@dataclass
class SpritesConfig:
    """dSprites' factor grid (``data.name=sprites``): 3 shapes x 6 scales x 40 orientations x 32 x 32 positions, 64 px
    binary; rendered procedurally, or read from the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``
    when ``data.root`` is that file (or a folder holding it). Val and test are seeded subsets of the grid."""

    num_val: int = bounded(2000, ge=1)
    num_test: int = bounded(2000, ge=1)
    seed: int = 1234  # the data set's own seed: which grid items are val and test


class SpritesDataset:
    """Grid items whose images are rendered on demand, or looked up in the official file's images.

    ``items``: (M,) long, the grid item indices (procedural) or the rows of ``images`` (the file); ``factors``:
    (M, 5) their factor values, which :class:`lit_gen.data.factor_batches.PoolVarier` reads directly.
    ``images``: (N, 1, S, S) uint8, the file's rows already at ``image_size``, or None.
    """

    def __init__(self, items: torch.Tensor, factors: torch.Tensor, image_size: int, channels: int,
                 images: Optional[torch.Tensor] = None):
        self.items = items
        self.factors = factors
        self.labels = factors[:, 0].long()
        self.image_size, self.channels, self.images = image_size, channels, images

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: list) -> list:
        """A batch's items rendered (or looked up) as one batch; per-item views, as the DataLoader expects."""
        import torch

        from lit_gen.data.sources.base import ItemViews

        idx = torch.as_tensor(indices, dtype=torch.long)
        if self.images is None:
            x = render(self.factors[idx], self.image_size)
        else:
            x = self.images[self.items[idx]].float().div_(255.0)
        x = x.expand(-1, self.channels, -1, -1)
        return ItemViews({"image": x, "label": self.labels[idx], "factors": self.factors[idx]})


# ----------------------------------------------------------------------------- building


def check(cfg) -> None:
    """The grid's own rule (the item count is checked in ``build``; the config's types and bounds hold the rest)."""
    if cfg.image_size < MIN_SIZE:
        raise UserError(f"data.image_size={cfg.image_size}: sprites needs at least {MIN_SIZE} px")


def split_indices(n: int, num_val: int, num_test: int, seed: int, what: str) -> tuple:
    """Sorted (train, val, test) positions in ``range(n)``: val and test disjoint seeded subsets, train the rest."""
    import torch

    if num_val + num_test >= n:
        raise UserError(f"data.sprites.num_val={num_val} + data.sprites.num_test={num_test}: {what} holds only {n} "
                        "items, which leaves none for training")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, test, train = perm[:num_val], perm[num_val : num_val + num_test], perm[num_val + num_test :]
    return train.sort().values, val.sort().values, test.sort().values


def info(cfg, binary: bool) -> SourceInfo:
    from lit_gen.data.sources.base import SourceInfo

    return SourceInfo(name=NAME, channels=cfg.channels, image_size=cfg.image_size, keys=KEYS,
                      num_classes=len(SHAPES), factor_names=FACTOR_NAMES, binary=binary,
                      factor_groups=dict(FACTOR_GROUPS), pooled=True)


def build(cfg) -> Splits:
    """The train/val/test splits of the grid (procedural) or of the official file's rows."""
    import torch

    from lit_gen.data.sources.base import Splits, conform_uint8, show_root

    sp = cfg.sprites
    path = official_file(cfg)
    if path is None:
        items, images, what = torch.arange(GRID_LEN), None, "the grid"
        factors = classes_to_factors(index_to_classes(items))
    else:
        data = read_file(path)
        items, what = torch.arange(len(data["images"])), f"the file {show_root(path)}"
        factors = classes_to_factors(data["classes"])
        images = conform_uint8(data["images"], 1, cfg.image_size)  # chunked: bounded float memory
    parts = split_indices(len(items), sp.num_val, sp.num_test, sp.seed, what)
    train, val, test = (SpritesDataset(items[p], factors[p], cfg.image_size, cfg.channels, images) for p in parts)
    # resizing the file's pixels makes grey edges; the procedural renderer stays binary at any size
    binary = path is None or cfg.image_size == OFFICIAL_SIZE
    return Splits(train=train, val=val, test=test, info=info(cfg, binary))


# ----------------------------------------------------------------------------- the factor renderer


class SpritesRenderer:
    """The grid behind the factor-renderer seam (:mod:`lit_gen.data.renderers`).

    ``data``: :func:`read_file`'s rows of the official file, whose images ``render`` looks up by class indices;
    None: render procedurally.
    """

    def __init__(self, image_size: int, channels: int, data: Optional[dict] = None, where: str = ""):
        import torch

        self.factor_names, self.factor_ranges, self.discrete = FACTOR_NAMES, dict(FACTOR_RANGES), DISCRETE
        self.image_size, self.channels, self.where = image_size, channels, where
        self.data = data
        if data is not None:  # grid item index -> file row (-1: not in the file)
            self.rows = torch.full((GRID_LEN,), -1, dtype=torch.long)
            self.rows[classes_to_index(data["classes"])] = torch.arange(len(data["classes"]))

    def vary(self, base: torch.Tensor, names: Sequence[str], n: int, generator: torch.Generator) -> torch.Tensor:
        """n copies of ``base`` with the factors ``names`` drawn uniformly from their grid values."""
        import torch

        out = base.reshape(1, -1).float().repeat(n, 1)
        for name in names:
            j = FACTOR_NAMES.index(name)
            out[:, j] = _grids()[j][torch.randint(GRID_SIZES[j], (n,), generator=generator)]
        return out

    def render(self, factors: torch.Tensor, generator: Optional[torch.Generator] = None):
        """(images (N, C, S, S), None) of the grid items nearest to ``factors``; ``generator`` is unused (the
        grid leaves nothing open)."""
        from lit_gen.data.sources.base import conform_images

        classes = snap(factors)
        if self.data is None:
            images = render(classes_to_factors(classes), self.image_size)
        else:
            rows = self.rows[classes_to_index(classes)]
            if (rows < 0).any():
                missing = classes[(rows < 0).nonzero()[0, 0]].tolist()
                raise UserError(f"{self.where}: the file has no item with class indices {missing} "
                                f"({', '.join(FACTOR_NAMES)})")
            images = conform_images(self.data["images"][rows].float().div_(255.0), 1, self.image_size)
        return images.expand(-1, self.channels, -1, -1), None


def renderer(cfg) -> SpritesRenderer:
    """The factor renderer of a data config: procedural, or the official file's images when ``data.root`` names it."""
    from lit_gen.data.sources.base import show_root

    path = official_file(cfg)
    if path is None:
        return SpritesRenderer(cfg.image_size, cfg.channels)
    return SpritesRenderer(cfg.image_size, cfg.channels, read_file(path), f"data.root={show_root(path)}")


def _factor_renderer(cfg, training: bool = False):
    return renderer(cfg)


SOURCES = (Source(NAME, build, SpritesConfig, factor_groups=SPRITES_GROUPS, renderer=_factor_renderer,
                  check=check),)
