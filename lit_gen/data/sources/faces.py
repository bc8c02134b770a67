"""``data.name=faces``: faces of the Surrey Face Model rendered at known pose, light and identity.

The DC-IGN paper's setting (it rendered the Basel Face Model; the Surrey model
is a public model of the same kind). The model file is the user's own copy,
read from ``<data.root>/sfm/`` with eos-py (the ``faces`` extra); see
:mod:`lit_gen.data.faces`.

Splits use disjoint identities: train, val and test each draw their own pool
of identity coefficient vectors from their own stream (``split_seed``), and
item i of a split shows identity ``i mod <pool size>`` at a pose and light
drawn from the split's item stream. The items are rendered once at build
time and kept as uint8. Items: ``image`` (C, H, W) in [0, 1], ``factors`` (F,)
(azimuth, elevation, light in radians, then id_0..id_{K-1}, then the
expression weights when on) and ``mask`` (1, H, W). There is no ``label``:
the identities of the splits differ, so an identity class would not transfer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from lit_gen.bounds import bounded
from lit_gen.data.faces.checks import check_available, check_settings
from lit_gen.data.sources import Source
from lit_gen.errors import UserError

NAME = "faces"
KEYS = frozenset({"image", "factors", "mask"})
SPLITS = ("train", "val", "test")
GROUPS = ("azimuth", "elevation", "light", "intrinsic")  # intrinsic: the identity (and expressions when on)
_CHUNK = 256  # images per render call while building


@dataclass
class FacesConfig:
    """Faces rendered from the Surrey Face Model (``data.name=faces``; the model file under ``<data.root>/sfm/``).

    Train, val and test draw their identities from three disjoint pools; item i of a split shows identity
    i mod (the split's identity count). Angles in degrees.
    """

    num_train: int = bounded(20000, ge=1)
    num_val: int = bounded(1000, ge=1)
    num_test: int = bounded(1000, ge=1)
    train_identities: int = bounded(2000, ge=1)
    val_identities: int = bounded(500, ge=1)
    test_identities: int = bounded(1000, ge=1)
    seed: int = 1234  # the data set's own seed
    # K: the first K shape components are the identity factors id_0..id_{K-1}
    identity_dims: int = bounded(20, ge=1)
    expressions: bool = False  # also the 6 expression blendshape weights, each uniform in [0, expression_max]
    expression_max: float = 1.0
    azimuth: list = field(default_factory=lambda: [-75.0, 75.0])
    elevation: list = field(default_factory=lambda: [-30.0, 30.0])
    light: list = field(default_factory=lambda: [-90.0, 90.0])  # light azimuth
    light_elevation: float = 20.0  # fixed
    ambient: float = 0.25
    specular: float = 0.0  # Blinn-Phong weight (0: Lambert + ambient only)
    # the mesh's coarseness in pixels at data.image_size: one model vertex kept per cube of this side
    # (lit_gen.data.faces.mesh); 0 renders the full mesh
    mesh_cell: float = bounded(0.0, ge=0)


def split_seed(seed: int, split: str, what: str) -> int:
    """The generator seed of a split's identities or items, derived from the data seed."""
    digest = hashlib.sha256(f"lit_gen.faces/{split}/{what}/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def check(cfg) -> None:
    """Before a run folder exists: the settings, the model file and eos-py."""
    check_settings(cfg)
    check_available(cfg.root)


def renderer(cfg, identity_pool=None):
    """The renderer of a data config (reads the model file; UserError when it or eos-py is missing)."""
    from lit_gen.data.faces.model import load_face_model
    from lit_gen.data.faces.renderer import FaceRenderer

    fc = cfg.faces
    model = load_face_model(cfg.root)
    if fc.identity_dims > model.num_components:
        raise UserError(f"data.faces.identity_dims={fc.identity_dims}: the model has {model.num_components} components")
    return FaceRenderer(model, cfg.image_size, cfg.channels, fc.identity_dims, fc.expressions,
                        tuple(fc.azimuth), tuple(fc.elevation), tuple(fc.light), fc.light_elevation, fc.ambient,
                        fc.specular, fc.expression_max, identity_pool=identity_pool, mesh_cell=fc.mesh_cell)


def identities(cfg, split: str):
    """(M, K) identity coefficients of a split's pool."""
    import torch

    from lit_gen.data.faces.renderer import truncated_normal

    fc = cfg.faces
    g = torch.Generator().manual_seed(split_seed(fc.seed, split, "identities"))
    return truncated_normal(getattr(fc, f"{split}_identities"), fc.identity_dims, g)


def info(cfg, factor_names: tuple):
    from lit_gen.data.sources.base import SourceInfo

    return SourceInfo(name=NAME, channels=cfg.channels, image_size=cfg.image_size, keys=KEYS, factor_names=factor_names)


def generate(rend, cfg, split: str) -> dict:
    """The tensors of a split: ``num_<split>`` items over that split's identity pool."""
    import torch
    from tqdm.auto import tqdm

    from lit_gen.data.sources.base import torch_threads

    fc = cfg.faces
    n = getattr(fc, f"num_{split}")
    pool = identities(cfg, split)
    g = torch.Generator().manual_seed(split_seed(fc.seed, split, "items"))
    identity = torch.arange(n) % len(pool)
    factors = torch.cat([rend.sample_extrinsic(n, g), pool[identity], rend.sample_expressions(n, g)], 1)
    s = cfg.image_size
    images = torch.empty(n, cfg.channels, s, s, dtype=torch.uint8)
    masks = torch.empty(n, 1, s, s, dtype=torch.uint8)
    # rendered grouped by identity: each face's shape and normals are then computed once per chunk
    order = torch.argsort(identity, stable=True)
    with torch_threads(1), tqdm(total=n, desc=f"rendering faces {split}", unit="img", delay=2.0, leave=False) as bar:
        for i in range(0, n, _CHUNK):
            idx = order[i : i + _CHUNK]
            img, m = rend.render(factors[idx])
            images[idx] = img.mul_(255.0).round_().to(torch.uint8)
            masks[idx] = m.to(torch.uint8)
            bar.update(len(idx))
    return {"image": images, "mask": masks, "factors": factors}


def build(cfg):
    from lit_gen.data.sources.base import MaskedDataset, Splits

    rend = renderer(cfg)
    parts = {split: MaskedDataset(generate(rend, cfg, split)) for split in SPLITS}
    return Splits(train=parts["train"], val=parts["val"], test=parts["test"], info=info(cfg, rend.factor_names))


def _factor_renderer(cfg, training: bool = False):
    """For training batches, intrinsic variations draw training identities only: val and test keep theirs unseen."""
    return renderer(cfg, identities(cfg, "train") if training else None)


SOURCES = (Source(NAME, build, FacesConfig, factor_groups=GROUPS, default_odds=(1.0, 1.0, 1.0, 10.0),
                   renderer=_factor_renderer, check=check),)
