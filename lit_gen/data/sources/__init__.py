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
    "mnist": _mnist,
    "fashion_mnist": _mnist,
    "binarized_mnist": _binarized_mnist,
    "folder": _folder,
    # toy densities: vectors (N, D), not images (see toy.py)
    "toy1d": _toy,
    "ring8": _toy,
    "grid25": _toy,
}
