"""The scenes' factors: what a scene is, how scenes are drawn and varied, and their attributes.

Scenes are described by a *factor dict* (see :func:`sample_factors`); the factors, their ranges and the
attributes are listed in :mod:`lit_gen.data.scenes.renderer`. Item i of ``sample_factors(n, g)`` only depends
on the generator's seed and i (not on n): all draws come from one row-major ``torch.rand(n, K)``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

SHAPES = ("box", "ellipsoid", "cylinder", "cone", "octahedron")
COLOURS = ("blue", "red", "magenta", "green", "cyan", "yellow")

FACTOR_NAMES = ("azimuth", "elevation", "light", "shape", "colour", "size", "width", "height")
POSE_FACTORS = ("azimuth", "elevation")
INTRINSIC_FACTORS = ("shape", "colour", "size", "width", "height")
DISCRETE_FACTORS = {"shape": len(SHAPES), "colour": len(COLOURS)}

DEG = math.pi / 180.0
# (low, high) of the continuous factors; angles in radians
FACTOR_RANGES = {
    "azimuth": (-60.0 * DEG, 60.0 * DEG),
    "elevation": (-30.0 * DEG, 30.0 * DEG),
    "light": (-80.0 * DEG, 80.0 * DEG),
    "size": (0.34, 0.52),
    "width": (0.75, 1.25),
    "height": (0.75, 1.25),
}

ATTRIBUTE_NAMES = (
    tuple(f"shape={s}" for s in SHAPES)
    + tuple(f"colour={c}" for c in COLOURS)
    + ("size", "azimuth", "elevation", "light")
)
ATTRIBUTE_GROUPS = {
    "shape": (0, len(SHAPES)),
    "colour": (len(SHAPES), len(SHAPES) + len(COLOURS)),
}

TEX_GRID = 5  # textured background: smooth noise on a 5x5 grid ...
_TEX_STRIPES = 4  # ... plus a stripe pattern: (freq, angle, phase, amplitude)
TEXTURE_DIM = 3 * TEX_GRID * TEX_GRID + _TEX_STRIPES + 3  # + tint (3)

_CONTINUOUS = ("azimuth", "elevation", "light", "size", "width", "height")
_DRAWS = len(_CONTINUOUS) + 2 + TEXTURE_DIM  # uniforms per item


# ----------------------------------------------------------------------------- factors


def _from_uniform(u: Tensor) -> dict:
    """Map uniforms (N, _DRAWS) in [0, 1) to a factor dict."""
    out = {}
    for j, name in enumerate(_CONTINUOUS):
        lo, hi = FACTOR_RANGES[name]
        out[name] = lo + (hi - lo) * u[:, j]
    k = len(_CONTINUOUS)
    out["shape"] = (u[:, k] * len(SHAPES)).long().clamp_(max=len(SHAPES) - 1)
    out["colour"] = (u[:, k + 1] * len(COLOURS)).long().clamp_(max=len(COLOURS) - 1)
    out["texture"] = u[:, k + 2 :].contiguous()
    return {name: out[name] for name in FACTOR_NAMES + ("texture",)}


def sample_factors(n: int, generator: Optional[torch.Generator] = None, device=None) -> dict:
    """Draw ``n`` i.i.d. scenes: uniform over every factor's range and class.

    Returns a factor dict (see module docstring) on ``device`` (default: CPU).
    Deterministic given the generator state; row i depends only on the
    generator's seed and i, not on n.
    """
    u = torch.rand(n, _DRAWS, generator=generator)
    f = _from_uniform(u)
    return {k: v.to(device) for k, v in f.items()} if device is not None else f


def _batch_size(factors: dict) -> int:
    return int(factors["azimuth"].reshape(-1).shape[0])


def select(factors: dict, idx) -> dict:
    """Index every entry of a factor dict (``idx``: int, slice or index tensor)."""
    if isinstance(idx, int):
        idx = slice(idx, idx + 1)
    return {k: v[idx] for k, v in factors.items()}


def concat(parts: list) -> dict:
    """Concatenate factor dicts along the batch."""
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def repeat(base: dict, n: int) -> dict:
    """``n`` copies of the first scene of ``base``."""
    return {k: v[:1].expand(n, *v.shape[1:]).clone() for k, v in as_batch(base).items()}


def as_batch(factors: dict) -> dict:
    """Accept scalars (one scene) or batches; fill a missing texture.

    Everything moves to the device of ``azimuth``; a missing ``texture`` is a
    fixed default.
    """
    missing = [k for k in FACTOR_NAMES if k not in factors]
    if missing:
        raise KeyError(f"factor dict lacks {missing}; expected {FACTOR_NAMES}")
    dev = torch.as_tensor(factors["azimuth"]).device
    out = {name: torch.as_tensor(factors[name], device=dev).reshape(-1) for name in FACTOR_NAMES}
    n = out["azimuth"].shape[0]
    if any(v.shape[0] != n for v in out.values()):
        raise ValueError(f"factor dict has different batch sizes: { {k: v.shape[0] for k, v in out.items()} }")
    for name, k in DISCRETE_FACTORS.items():
        out[name] = out[name].round().long() if out[name].is_floating_point() else out[name].long()
        if n and (int(out[name].min()) < 0 or int(out[name].max()) >= k):
            raise ValueError(f"factor {name!r} must be a class index in 0..{k - 1}")
    for name in _CONTINUOUS:
        out[name] = out[name].float()
    tex = factors.get("texture")
    if tex is None:
        tex = torch.full((n, TEXTURE_DIM), 0.5, device=dev)
    out["texture"] = torch.as_tensor(tex, device=dev).float().reshape(n, TEXTURE_DIM)
    return out


def vary(base: dict, name: Optional[str], n: int, generator: Optional[torch.Generator] = None) -> dict:
    """``n`` scenes equal to the first scene of ``base`` except for ``name``.

    ``name``: a factor name, ``"intrinsic"`` (all of ``INTRINSIC_FACTORS``
    together), ``"pose"`` (azimuth and elevation together), ``"background"``
    (the texture only) or ``None`` (nothing varies: n identical scenes).
    With a ``generator`` the varied values are random draws (uniform over the
    range / classes); without one they are a deterministic sweep: evenly
    spaced from low to high for continuous factors, classes 0, 1, ... (cycling)
    for discrete ones.
    """
    out = repeat(base, n)
    if name is None:
        return out
    if name == "intrinsic":
        names = INTRINSIC_FACTORS
    elif name == "pose":
        names = POSE_FACTORS
    elif name == "background":
        names = ("texture",)
    elif name in FACTOR_NAMES:
        names = (name,)
    else:
        raise ValueError(f"unknown factor {name!r}; expected one of {FACTOR_NAMES + ('intrinsic', 'pose', 'background')}")
    dev = out["azimuth"].device
    if generator is not None:
        fresh = {k: v.to(dev) for k, v in sample_factors(n, generator).items()}
    for k in names:
        if generator is not None:
            out[k] = fresh[k]
        elif k in DISCRETE_FACTORS:
            out[k] = torch.arange(n, device=dev) % DISCRETE_FACTORS[k]
        elif k == "texture":
            g = torch.Generator().manual_seed(0)
            out[k] = torch.rand(n, TEXTURE_DIM, generator=g).to(dev)
        else:
            lo, hi = FACTOR_RANGES[k]
            out[k] = torch.linspace(lo, hi, n, device=dev)
    return out


def factors_to_tensor(factors: dict) -> Tensor:
    """(N, len(FACTOR_NAMES)) float tensor, columns in ``FACTOR_NAMES`` order."""
    f = as_batch(factors)
    return torch.stack([f[k].float() for k in FACTOR_NAMES], dim=1)


def factors_from_tensor(t: Tensor, texture: Optional[Tensor] = None) -> dict:
    """Inverse of :func:`factors_to_tensor` (discrete columns are rounded).

    Without ``texture`` a textured background uses one fixed default texture.
    """
    d = {k: t[:, j] for j, k in enumerate(FACTOR_NAMES)}
    if texture is not None:
        d["texture"] = texture
    return as_batch(d)


def attributes(factors: dict) -> Tensor:
    """(N, 15) float attributes in ``ATTRIBUTE_NAMES`` order.

    One-hot shape (5 columns), one-hot colour (6), then size, azimuth,
    elevation, light, each scaled linearly from its range to [-1, 1].
    """
    f = as_batch(factors)
    parts = [
        F.one_hot(f["shape"], len(SHAPES)).float(),
        F.one_hot(f["colour"], len(COLOURS)).float(),
    ]
    for k in ("size", "azimuth", "elevation", "light"):
        lo, hi = FACTOR_RANGES[k]
        parts.append(((f[k] - lo) * (2.0 / (hi - lo)) - 1.0).unsqueeze(1))
    return torch.cat(parts, dim=1)
