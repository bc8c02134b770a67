"""The embedded procedural data set ``scenes``: shaded 3-D objects.

See :mod:`lit_gen.data.scenes.renderer` for the factors, attributes and API: the factors and their algebra are in
``factors``, the ray casting and shading in ``geometry``, the pictures composed in ``renderer``.
"""

from lit_gen.data.scenes.factors import (
    ATTRIBUTE_GROUPS, ATTRIBUTE_NAMES, COLOURS, DISCRETE_FACTORS, FACTOR_NAMES, FACTOR_RANGES, INTRINSIC_FACTORS,
    POSE_FACTORS, SHAPES, TEXTURE_DIM, attributes, concat, factors_from_tensor, factors_to_tensor, repeat,
    sample_factors, select, vary)
from lit_gen.data.scenes.renderer import RENDER_VERSION, render

__all__ = [
    "ATTRIBUTE_GROUPS",
    "ATTRIBUTE_NAMES",
    "COLOURS",
    "DISCRETE_FACTORS",
    "FACTOR_NAMES",
    "FACTOR_RANGES",
    "INTRINSIC_FACTORS",
    "POSE_FACTORS",
    "RENDER_VERSION",
    "SHAPES",
    "TEXTURE_DIM",
    "attributes",
    "concat",
    "factors_from_tensor",
    "factors_to_tensor",
    "render",
    "repeat",
    "sample_factors",
    "select",
    "vary",
]
