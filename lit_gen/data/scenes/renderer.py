"""A fast procedural renderer of shaded 3-D objects (pure torch, batched): the pictures.

This module composes them: albedo, background and the ray windows pooled to pixels. The factors and their
algebra are :mod:`lit_gen.data.scenes.factors`; the ray casting and shading :mod:`lit_gen.data.scenes.geometry`.

Every scene is one object, centred, seen by an orthographic camera, lit by a
directional light (Lambertian shading plus an ambient term), on a plain or
textured background. Rendering is analytic ray casting: each shape is a convex
set (an intersection of slabs and at most one quadric), so a ray's entry point
comes in closed form. Everything is vectorised over the batch and the pixels
(the only Python loop is over the five shape classes); rays are only cast in
a window around each object, and 32 px images are 2x2 supersampled
(antialiased). Runs on the device of the factor tensors (CPU or GPU).
Images come out float in [0, 1], (N, C, H, W); masks float in {0, 1},
(N, 1, H, W), where the object covers at least half of a pixel.

Scenes are described by a *factor dict* (see :func:`sample_factors`)::

    {"azimuth": (N,), "elevation": (N,), "light": (N,),        # radians
     "shape": (N,) long, "colour": (N,) long,                  # class indices
     "size": (N,), "width": (N,), "height": (N,),              # continuous
     "texture": (N, TEXTURE_DIM)}                              # background only

Factors (ground truth, ``FACTOR_NAMES`` order; angles in RADIANS):

=========== ================== ==================================================
name        range              meaning
=========== ================== ==================================================
azimuth     [-60, +60] deg     turn about the vertical axis; positive turns the
                               object's front (its marker) to the viewer's right
elevation   [-30, +30] deg     camera height; positive looks down on the object
light       [-80, +80] deg     light azimuth; positive lights from the viewer's
                               right (light elevation fixed at 35 deg)
shape       {0..4}             ``SHAPES``: box, ellipsoid, cylinder, cone,
                               octahedron
colour      {0..5}             ``COLOURS``: blue, red, magenta, green, cyan,
                               yellow; in grey: levels 0.40, 0.52, ..., 1.00
size        [0.34, 0.52]       object scale in image half-widths (the half
                               extents are size * (width, height, 1) times a
                               per-shape constant that evens out the areas)
width       [0.75, 1.25]       x half extent / z half extent
height      [0.75, 1.25]       y half extent / z half extent
=========== ================== ==================================================

Every factor visibly changes the image, in grey too: each object carries a
contrasting spherical *marker* on its front face (at mid-height) and a darker
*belt* around its middle, so turning left/right or viewing from above/below
moves the marker and bends the belt, also for bodies that are rotationally
symmetric; no range wraps around, and mirrored poses look different.

The API::

    sample_factors(n, generator)          -> factor dict of n i.i.d. scenes
    vary(base, name, n, generator=None)   -> n copies of base's first scene
                                             where only ``name`` changes (a
                                             factor, "intrinsic", "pose",
                                             "background" or None)
    render(factors, image_size, channels, background) -> (images, masks)
    factors_to_tensor(factors)            -> (N, 8) float, FACTOR_NAMES order
    factors_from_tensor(t, texture=None)  -> factor dict
    attributes(factors)                   -> (N, 15) float, ATTRIBUTE_NAMES order
    select(factors, idx), concat([...]), repeat(base, n)

``attributes``: one-hot shape (columns 0-4), one-hot colour (5-10), then size,
azimuth, elevation, light, each mapped linearly from its range to [-1, 1];
``ATTRIBUTE_GROUPS`` = {"shape": (0, 5), "colour": (5, 11)}.

Item i of ``sample_factors(n, g)`` only depends on the generator's seed and i
(not on n): all draws come from one row-major ``torch.rand(n, K)``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from lit_gen.data.scenes.factors import TEX_GRID, as_batch
from lit_gen.data.scenes.factors import (  # noqa: F401  read beside render by this module's users
    ATTRIBUTE_NAMES, FACTOR_NAMES, SHAPES, attributes, factors_to_tensor, sample_factors)
from lit_gen.data.scenes.geometry import bound_radius, render_rays, window_rays

Tensor = torch.Tensor

# Bumped whenever the pictures for given factors change (for cache keys).
RENDER_VERSION = 1

# RGB albedo per colour class, and the grey level it maps to in grey images
# (evenly spaced, ordered like the colours' luma).
_COLOUR_RGB = (
    (0.20, 0.35, 1.00),  # blue
    (0.95, 0.18, 0.12),  # red
    (0.90, 0.25, 0.90),  # magenta
    (0.20, 0.80, 0.22),  # green
    (0.20, 0.85, 0.90),  # cyan
    (1.00, 0.88, 0.15),  # yellow
)
_COLOUR_GREY = (0.40, 0.52, 0.64, 0.76, 0.88, 1.00)
# the marker contrasts with its body: white on dark bodies, dark on bright ones
_MARKER_RGB = (
    (1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0),
    (0.25, 0.25, 0.30),
    (0.25, 0.25, 0.30),
    (0.25, 0.25, 0.30),
)
_MARKER_GREY = (1.0, 1.0, 1.0, 0.28, 0.28, 0.28)

PLAIN_BACKGROUND = 0.0


def _upsample_matrix(g: int, size: int, device) -> Tensor:
    """(size, g) matrix of 1-D bicubic interpolation (align_corners=True)."""
    eye = torch.eye(g, device=device).view(g, 1, 1, g)
    return F.interpolate(eye, size=(1, size), mode="bicubic", align_corners=True).view(g, size).t()


def _background(f: dict, size: int, channels: int, background: str) -> Tensor:
    """(N, C, H, W) background in [0, 1]."""
    N = f["azimuth"].shape[0]
    dev = f["azimuth"].device
    if background == "plain":
        return torch.full((N, channels, size, size), PLAIN_BACKGROUND, device=dev)
    tex = f["texture"]
    g = TEX_GRID
    grid = tex[:, : 3 * g * g].view(N, 3, g, g)
    # separable bicubic interpolation as two small matmuls (inner dimension 5,
    # so no split of the sums between threads)
    M = _upsample_matrix(g, size, dev)  # (size, g)
    if channels == 1:
        grid = (grid[:, 0:1] + grid[:, 1:2] + grid[:, 2:3]) * (1.0 / 3.0)
    noise = M @ grid @ M.t()  # (N, 1 or 3, size, size)
    grey = noise[:, 0] if channels == 1 else (noise[:, 0] + noise[:, 1] + noise[:, 2]) * (1.0 / 3.0)
    freq, ang, phase, amp = tex[:, 3 * g * g : 3 * g * g + 4].unbind(1)
    tint = tex[:, 3 * g * g + 4 :]
    c = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) / size * 2.0 - 1.0
    yy, xx = c.view(1, size, 1), c.view(1, 1, size)
    freq = (1.5 + 3.0 * freq).view(N, 1, 1)
    ang = (math.pi * ang).view(N, 1, 1)
    s = torch.sin(math.pi * freq * (xx * torch.cos(ang) + yy * torch.sin(ang)) + 2 * math.pi * phase.view(N, 1, 1))
    stripes = (0.05 + 0.09 * amp).view(N, 1, 1) * s  # (N, H, W)
    lum = 0.15 + 0.3 * grey + stripes  # ~[0.0, 0.6]
    if channels == 1:
        return lum.unsqueeze(1).clamp(0, 1)
    chroma = 0.25 * (noise - grey.unsqueeze(1)) + 0.2 * (tint - 0.5).view(N, 3, 1, 1)
    return (lum.unsqueeze(1) * (1.0 + chroma)).clamp(0, 1)



def render(
    factors: dict,
    image_size: int = 32,
    channels: int = 1,
    background: str = "plain",
    supersample: Optional[int] = None,
    chunk_rays: int = 1 << 19,
    half_shade: float = 1.0,
) -> tuple:
    """Render scenes given by a factor dict, for ARBITRARY factor values.

    ``factors``: a factor dict (batched tensors, or scalars for one scene;
    ``texture`` optional). Values outside the sampling ranges are allowed
    (objects may then leave the frame). Runs on the factors' device.
    ``supersample``: rays per pixel side for antialiasing (default 2 for
    images up to 48 px, else 1). ``chunk_rays`` bounds the rays cast at once
    (memory). ``half_shade`` in (0, 1] multiplies the albedo of the body's
    right half (object x > 0, the viewer's right in the front view) and of its
    top half (y > 0), so the upper-right quarter gets it twice: below 1 the
    body's vertical and horizontal mid-lines, where the tone changes, move with
    azimuth and elevation on every shape, also on the bodies that are
    symmetric about the vertical axis; 1 (default) is one tone. Returns ``(images, masks)``:
    images float (N, C, H, W) in [0, 1], masks float (N, 1, H, W) in {0, 1}
    (object covers at least half the pixel). The mask does not depend on the
    background, the channels or ``half_shade``. The values are the config's, checked there (``ScenesConfig``).
    """
    f = as_batch(factors)
    N = f["azimuth"].shape[0]
    dev = f["azimuth"].device
    ss = supersample or (2 if image_size <= 48 else 1)
    S = image_size * ss
    c = (torch.arange(S, device=dev, dtype=torch.float32) + 0.5) / S * 2.0 - 1.0
    table = (_COLOUR_GREY, _MARKER_GREY) if channels == 1 else (_COLOUR_RGB, _MARKER_RGB)
    body_albedo = torch.tensor(table[0], device=dev).view(-1, channels)[f["colour"]].view(N, channels, 1, 1)
    mark_albedo = torch.tensor(table[1], device=dev).view(-1, channels)[f["colour"]].view(N, channels, 1, 1)

    # Only rays near the object can hit it: cast rays in a centred window that
    # holds each scene's bounding ball. Scenes are processed sorted by that
    # radius (largest first), so that a chunk's window fits its scenes tightly.
    rb = bound_radius(f)
    order = torch.argsort(rb, descending=True, stable=True)
    # first pixel whose centre can lie inside the ball: c_k >= -rb
    # (a multiple of ss, so that windows pool to whole pixels)
    k0 = ((1.0 - rb) * S / 2.0 - 0.5).floor().clamp(min=0).long() // ss * ss
    shades = torch.zeros(N, 3, image_size, image_size, device=dev)  # body, marker, coverage
    pos = 0
    while pos < N:
        k = int(k0[order[pos]])
        w = S - 2 * k
        per = max(1, chunk_rays // (w * w))
        idx = order[pos : pos + per]
        pos += idx.numel()
        idx = idx[torch.argsort(f["shape"][idx], stable=True)]  # group by shape
        fs = {name: x[idx] for name, x in f.items()}
        n = idx.numel()
        wp = w // ss
        u, v = window_rays(c, k, wp, ss)
        body, mark, hit = render_rays(fs, u, v, half_shade)
        # rays are laid out (sub-sample, row, column): pooling adds contiguous blocks
        win = torch.stack((body, mark, hit), dim=1).view(n, 3, ss * ss, wp * wp)
        if ss > 1:
            acc = win[:, :, 0]
            for j in range(1, ss * ss):
                acc = acc + win[:, :, j]
            win = acc * (1.0 / (ss * ss))
        kp = k // ss
        shades[idx, :, kp : kp + wp, kp : kp + wp] = win.reshape(n, 3, wp, wp)
    coverage = shades[:, 2:3]
    colour = body_albedo * shades[:, 0:1] + mark_albedo * shades[:, 1:2]
    bg = _background(f, image_size, channels, background)
    images = (colour + (1.0 - coverage) * bg).clamp_(0, 1)
    masks = (coverage >= 0.5).float()
    return images, masks
