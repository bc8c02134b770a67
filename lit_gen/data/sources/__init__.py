"""Data sources, selected by ``data.name``.

Each builder takes the ``data`` config section and returns ``Splits``. The
imports sit inside the builders so that loading one source never pays for the
others.
"""

from __future__ import annotations


def _scenes(cfg):
    from lit_gen.data.sources import scenes

    return scenes.build(cfg)


def _faces(cfg):
    from lit_gen.data.sources import faces

    return faces.build(cfg)


def _sprites(cfg):
    from lit_gen.data.sources import sprites

    return sprites.build(cfg)


def _mnist(cfg):
    from lit_gen.data.sources import mnist

    return mnist.build(cfg)


def _binarized_mnist(cfg):
    from lit_gen.data.sources import binarized_mnist

    return binarized_mnist.build(cfg)


def _folder(cfg):
    from lit_gen.data.sources import folder

    return folder.build(cfg)


def _toy(cfg):
    from lit_gen.data.sources import toy

    return toy.build(cfg)


DATASETS = {
    "scenes": _scenes,
    "faces": _faces,
    "sprites": _sprites,
    "mnist": _mnist,
    "fashion_mnist": _mnist,
    "binarized_mnist": _binarized_mnist,
    "folder": _folder,
    # toy densities: vectors (N, D), not images (see toy.py)
    "toy1d": _toy,
    "ring8": _toy,
    "grid25": _toy,
}

# The factor groups a factor batch (DC-IGN) or pair (Ada-GVAE) varies, per source with factors, in the order of
# ``data.factor_odds`` and of the batches' ``varied`` index. Known here, without torch, so a config is checked
# before anything is built; each source's SourceInfo.factor_groups says which factors each group holds.
DCIGN_GROUPS = ("azimuth", "elevation", "light", "intrinsic")
SPRITES_GROUPS = ("scale", "orientation", "pos_x", "pos_y", "intrinsic")  # intrinsic: the shape
FACTOR_GROUPS = {"scenes": DCIGN_GROUPS, "faces": DCIGN_GROUPS, "sprites": SPRITES_GROUPS}
# data.factor_odds when null: DC-IGN's 1 : 1 : 1 : 10 where its groups are the source's, else equal odds
DEFAULT_ODDS = {"scenes": (1.0, 1.0, 1.0, 10.0), "faces": (1.0, 1.0, 1.0, 10.0)}


def default_odds(name: str, groups) -> tuple:
    return DEFAULT_ODDS.get(name, tuple(1.0 for _ in groups))
