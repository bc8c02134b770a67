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

import torch
from tqdm.auto import tqdm

from lit_gen.data.faces.checks import check_settings
from lit_gen.data.faces.model import load_face_model
from lit_gen.data.faces.renderer import FaceRenderer, truncated_normal
from lit_gen.data.sources.base import MaskedDataset, SourceInfo, Splits, check_image_cfg, torch_threads
from lit_gen.errors import UserError

NAME = "faces"
KEYS = frozenset({"image", "factors", "mask"})
SPLITS = ("train", "val", "test")
_CHUNK = 256  # images per render call while building


def split_seed(seed: int, split: str, what: str) -> int:
    """The generator seed of a split's identities or items, derived from the data seed."""
    digest = hashlib.sha256(f"lit_gen.faces/{split}/{what}/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def validate(cfg) -> None:
    """UserError, naming the key, for settings the renderer cannot honour."""
    check_image_cfg(cfg)
    check_settings(cfg)


def renderer(cfg, identity_pool=None) -> FaceRenderer:
    """The renderer of a data config (reads the model file; UserError when it or eos-py is missing)."""
    fc = cfg.faces
    model = load_face_model(cfg.root)
    if fc.identity_dims > model.num_components:
        raise UserError(f"data.faces.identity_dims={fc.identity_dims}: the model has {model.num_components} components")
    return FaceRenderer(model, cfg.image_size, cfg.channels, fc.identity_dims, fc.expressions,
                        tuple(fc.azimuth), tuple(fc.elevation), tuple(fc.light), fc.light_elevation, fc.ambient,
                        fc.specular, fc.expression_max, identity_pool=identity_pool, mesh_cell=fc.mesh_cell)


def identities(cfg, split: str) -> torch.Tensor:
    """(M, K) identity coefficients of a split's pool."""
    fc = cfg.faces
    g = torch.Generator().manual_seed(split_seed(fc.seed, split, "identities"))
    return truncated_normal(getattr(fc, f"{split}_identities"), fc.identity_dims, g)


def info(cfg, factor_names: tuple) -> SourceInfo:
    return SourceInfo(name=NAME, channels=cfg.channels, image_size=cfg.image_size, keys=KEYS, factor_names=factor_names)


def generate(rend: FaceRenderer, cfg, split: str) -> dict:
    """The tensors of a split: ``num_<split>`` items over that split's identity pool."""
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


def build(cfg) -> Splits:
    validate(cfg)
    rend = renderer(cfg)
    parts = {split: MaskedDataset(generate(rend, cfg, split)) for split in SPLITS}
    return Splits(train=parts["train"], val=parts["val"], test=parts["test"], info=info(cfg, rend.factor_names))
