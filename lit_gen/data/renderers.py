"""The seam the renderers share: factor rows in, images out, and one-group variations.

A *factor renderer* is what DC-IGN's factor-clamped batches
(:class:`lit_gen.data.factor_batches.RenderedVarier`) and the disentanglement
evaluation (re-renders, within-item sweeps) draw from. It has

- ``factor_names`` (F names), ``factor_ranges`` ({name: (low, high)}, the continuous
  factors a sweep may cover) and ``discrete`` (names of class-index factors);
- ``vary(base, names, n, generator) -> (n, F)``: n copies of the (F,) row
  ``base`` with the factors ``names`` drawn afresh;
- ``render(factors, generator=None) -> (images, masks)`` for (N, F) rows;
  ``generator`` draws what the rows leave open (the scenes' background texture).

``scenes`` (:class:`ScenesFactorRenderer`, over the dict-based scene renderer),
``faces`` (:class:`lit_gen.data.faces.renderer.FaceRenderer`) and ``sprites``
(the dSprites grid, :mod:`lit_gen.data.sources.sprites`) implement it.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch


class ScenesFactorRenderer:
    """The scene renderer behind the factor-renderer seam: its settings, and factor rows as tensors."""

    def __init__(self, image_size: int, channels: int, background: str, half_shade: float = 1.0):
        from lit_gen.data import scenes as R

        self.R = R
        self.settings = dict(image_size=image_size, channels=channels, background=background, half_shade=half_shade)
        self.factor_names = tuple(R.FACTOR_NAMES)
        self.factor_ranges = dict(R.FACTOR_RANGES)
        self.discrete = tuple(R.DISCRETE_FACTORS)

    def vary(self, base: torch.Tensor, names: Sequence[str], n: int, generator: torch.Generator) -> torch.Tensor:
        R = self.R
        row = R.factors_from_tensor(base.reshape(1, -1))
        if set(names) == set(R.INTRINSIC_FACTORS):
            f = R.vary(row, "intrinsic", n, generator)
        elif len(names) == 1:
            f = R.vary(row, names[0], n, generator)
        else:  # a custom multi-factor group
            f = R.vary(row, None, n)
            fresh = R.sample_factors(n, generator)
            for k in names:
                f[k] = fresh[k]
        return R.factors_to_tensor(f)

    def render(self, factors: torch.Tensor, generator: Optional[torch.Generator] = None):
        """With a generator, one fresh background texture for the whole call (the items do not store theirs)."""
        texture = None
        if generator is not None:
            texture = torch.rand(1, self.R.TEXTURE_DIM, generator=generator).expand(len(factors), -1)
        return self.R.render(self.R.factors_from_tensor(factors, texture), **self.settings)


def factor_renderer(data_cfg, name: str, training: bool = False):
    """The factor renderer of a rendered source (None for stored data sets); ``training``: for training batches."""
    from lit_gen.data.sources import source

    make = source(name).renderer
    return make(data_cfg, training) if make is not None else None
