"""The ground floor that data and models share: what a model learns about its data, and the value ranges.

Plain values only, so ``models`` never import ``data`` and a checkpoint's hyperparameters load with
``weights_only=True``. Data items are images in [0, 1]; models that work in [-1, 1] (tanh outputs) convert here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class DataSpec:
    """Built by ``GenerativeDataModule.spec()``; handed to every model's constructor."""

    channels: int
    image_size: int
    keys: tuple = ("image",)
    binary: bool = False
    num_classes: Optional[int] = None
    factor_names: tuple = ()
    attribute_names: tuple = ()
    pixel_mean: Optional[list] = None  # the mean training image, flattened; for output-bias init
    vector_dim: Optional[int] = None  # vector data (toy densities): items are (D,) reals, not images in [0, 1]
    # the factor groups a factor-batch or pair varies, in order: ((group, (factor, ...)), ...); () for none
    factor_groups: tuple = ()
    train_size: Optional[int] = None  # items in the training split (beta-TCVAE's minibatch-weighted sampling)

    @property
    def is_image(self) -> bool:
        return self.vector_dim is None

    @property
    def shape(self) -> tuple:
        if not self.is_image:
            return (self.vector_dim,)
        return (self.channels, self.image_size, self.image_size)


def to_model_range(x01):
    """Images in [0, 1] -> [-1, 1]."""
    return x01 * 2.0 - 1.0


def to_unit_range(x):
    """[-1, 1] -> images in [0, 1] (clamped: a decoder's mean may overshoot)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)
