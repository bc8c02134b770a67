"""A fast procedural renderer of shaded 3-D objects (pure torch, batched).

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
    SceneRenderer(image_size, channels, background)(factors) -> same
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

Tensor = torch.Tensor

# Bumped whenever the pictures for given factors change (for cache keys).
RENDER_VERSION = 1

SHAPES = ("box", "ellipsoid", "cylinder", "cone", "octahedron")
COLOURS = ("blue", "red", "magenta", "green", "cyan", "yellow")

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

FACTOR_NAMES = ("azimuth", "elevation", "light", "shape", "colour", "size", "width", "height")
POSE_FACTORS = ("azimuth", "elevation")
INTRINSIC_FACTORS = ("shape", "colour", "size", "width", "height")
DISCRETE_FACTORS = {"shape": len(SHAPES), "colour": len(COLOURS)}

_DEG = math.pi / 180.0
# (low, high) of the continuous factors; angles in radians
FACTOR_RANGES = {
    "azimuth": (-60.0 * _DEG, 60.0 * _DEG),
    "elevation": (-30.0 * _DEG, 30.0 * _DEG),
    "light": (-80.0 * _DEG, 80.0 * _DEG),
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

BACKGROUNDS = ("plain", "textured")
PLAIN_BACKGROUND = 0.0

LIGHT_ELEVATION = 35.0 * _DEG
AMBIENT = 0.3
_TEX_GRID = 5  # textured background: smooth noise on a 5x5 grid ...
_TEX_STRIPES = 4  # ... plus a stripe pattern: (freq, angle, phase, amplitude)
TEXTURE_DIM = 3 * _TEX_GRID * _TEX_GRID + _TEX_STRIPES + 3  # + tint (3)

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
    return {k: v[:1].expand(n, *v.shape[1:]).clone() for k, v in _as_batch(base).items()}


def _as_batch(factors: dict) -> dict:
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
    f = _as_batch(factors)
    return torch.stack([f[k].float() for k in FACTOR_NAMES], dim=1)


def factors_from_tensor(t: Tensor, texture: Optional[Tensor] = None) -> dict:
    """Inverse of :func:`factors_to_tensor` (discrete columns are rounded).

    Without ``texture`` a textured background uses one fixed default texture.
    """
    d = {k: t[:, j] for j, k in enumerate(FACTOR_NAMES)}
    if texture is not None:
        d["texture"] = texture
    return _as_batch(d)


def attributes(factors: dict) -> Tensor:
    """(N, 15) float attributes in ``ATTRIBUTE_NAMES`` order.

    One-hot shape (5 columns), one-hot colour (6), then size, azimuth,
    elevation, light, each scaled linearly from its range to [-1, 1].
    """
    f = _as_batch(factors)
    parts = [
        F.one_hot(f["shape"], len(SHAPES)).float(),
        F.one_hot(f["colour"], len(COLOURS)).float(),
    ]
    for k in ("size", "azimuth", "elevation", "light"):
        lo, hi = FACTOR_RANGES[k]
        parts.append(((f[k] - lo) * (2.0 / (hi - lo)) - 1.0).unsqueeze(1))
    return torch.cat(parts, dim=1)


# ----------------------------------------------------------------------------- geometry
# Vectors are tuples of three tensors: per-item (N, 1) or per-ray (N, P).


def _rotation(az: Tensor, el: Tensor):
    """Object-to-camera rotation R (rows as 3-tuples of (N, 1)) for a camera
    looking along +z with y up: R = Rx(-el) @ Ry(-az)."""
    ca, sa = torch.cos(az), torch.sin(az)
    ce, se = torch.cos(el), torch.sin(el)
    # Ry(-az): x' = ca x - sa z ; z' = sa x + ca z
    # Rx(-el): y'' = ce y + se z' ; z'' = -se y + ce z'
    zero = torch.zeros_like(az)
    r0 = (ca, zero, -sa)
    r1 = (se * sa, ce, se * ca)
    r2 = (ce * sa, -se, ce * ca)
    return tuple(tuple(c.unsqueeze(1) for c in row) for row in (r0, r1, r2))


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _safe(d: Tensor) -> Tensor:
    """Keep a per-item direction component away from zero (keeps its sign)."""
    return torch.where(d >= 0, d.clamp(min=1e-7), d.clamp(max=-1e-7))


# Misses are encoded without infinities or NaNs, with arithmetic rather than
# torch.where / boolean masks (both are slow on CPU): an entry distance of
# _BIG or more is a miss, and "penalties" push missed entries past their exits.
_BIG = 1e30
_MISS = 1e10  # t >= _MISS: no hit
_TMAX = 10.0  # distances are clamped to this for normals (hits have |t| < 2)


def _step(x: Tensor) -> Tensor:
    """Float 1 where x > 0 else 0 (0 also for |x| < 1e-30)."""
    return (x * _BIG).clamp_(0.0, 1.0)


def _slab(o_s: Tensor, d_s: Tensor, h):
    """Entry/exit of the slab |s| <= h along s(t) = o_s + t d_s (d_s per item)."""
    d_s = _safe(d_s)
    inv = 1.0 / d_s
    sgn = torch.sign(d_s)
    t_in = (-sgn * h - o_s) * inv
    t_out = (sgn * h - o_s) * inv
    return t_in, t_out


def _quadric(A: Tensor, B: Tensor, C: Tensor, lower_first: Optional[Tensor] = None):
    """Interval where A t^2 + B t + C <= 0 (A per item, (N, 1)).

    For A > 0 the interval between the roots. For A < 0 (double cones) the
    half-line on the side given by ``lower_first`` (True: (-inf, r0]); for
    A ~ 0 (ray parallel to the axis) everything or nothing. Returns
    (t_in, t_out), finite or +-_BIG-ish; a miss has t_in > t_out.
    """
    small = A.abs() < 1e-9
    A_ = torch.where(small, torch.full_like(A, 1e-9), A)
    inv = 0.5 / A_
    disc = B * B - 4.0 * A_ * C
    sq = disc.clamp(min=0).sqrt()
    pen = (-disc).clamp_(min=0).mul_(_BIG)  # > 0 on a miss
    r0 = (-B - sq) * inv
    r1 = (-B + sq) * inv
    if bool((A_ > 0).all()):
        return r0 + pen, r1
    # rare (only for factor values far outside the sampling ranges)
    lo, hi = torch.minimum(r0, r1), torch.maximum(r0, r1)
    t_in, t_out = lo + pen, hi
    neg = A < -1e-9
    if lower_first is not None and bool(neg.any()):
        big = torch.tensor(_BIG, device=C.device)
        t_in = torch.where(neg, torch.where(lower_first, -big, hi), t_in)
        t_out = torch.where(neg, torch.where(lower_first, lo, big), t_out)
    if bool(small.any()):
        big = torch.tensor(_BIG, device=C.device)
        inside = C <= 0
        t_in = torch.where(small, torch.where(inside, -big, big), t_in)
        t_out = torch.where(small, torch.where(inside, big, -big), t_out)
    return t_in, t_out


def _hit_shape(k: int, o, d, a):
    """Entry distance t (>= _MISS on a miss) and object-space normal of shape ``k``.

    ``o``: ray origins (N, P) x3, ``d``: directions (N, 1) x3, ``a``: half
    extents (N, 1) x3. The normal is unnormalised and finite (arbitrary on a
    miss).
    """
    ax, ay, az = a
    name = SHAPES[k]
    if name == "box":
        ins, outs = zip(*(_slab(o[i], d[i], a[i]) for i in range(3)))
        t_in = torch.maximum(torch.maximum(ins[0], ins[1]), ins[2])
        t_out = torch.minimum(torch.minimum(outs[0], outs[1]), outs[2])
        # the entry face is on the axis whose slab is entered last
        n = tuple(_step(ins[i] - t_in + 1e-30) * (-torch.sign(_safe(d[i]))) for i in range(3))
    elif name == "ellipsoid":
        O = (o[0] / ax, o[1] / ay, o[2] / az)
        D = (d[0] / ax, d[1] / ay, d[2] / az)
        t_in, t_out = _quadric(_dot(D, D), 2.0 * _dot(O, D), _dot(O, O) - 1.0)
        tc = t_in.clamp(-_TMAX, _TMAX)
        n = tuple((o[i] + tc * d[i]) / (a[i] * a[i]) for i in range(3))
    elif name in ("cylinder", "cone"):
        OX, OZ, DX, DZ = o[0] / ax, o[2] / az, d[0] / ax, d[2] / az
        if name == "cylinder":  # X^2 + Z^2 <= 1, |y| <= ay
            s_in, s_out = _quadric(DX * DX + DZ * DZ, 2.0 * (OX * DX + OZ * DZ), OX * OX + OZ * OZ - 1.0)
        else:
            # apex at y = +ay, elliptical base (ax, az) at y = -ay:
            # X^2 + Z^2 <= W^2, W = 1/2 - y / (2 ay) in [0, 1]
            W0 = 0.5 - o[1] / (2.0 * ay)
            DW = -d[1] / (2.0 * ay)
            A = DX * DX + DZ * DZ - DW * DW
            B = 2.0 * (OX * DX + OZ * DZ - W0 * DW)
            s_in, s_out = _quadric(A, B, OX * OX + OZ * OZ - W0 * W0, lower_first=DW < 0)
        c_in, c_out = _slab(o[1], d[1], ay)
        t_in = torch.maximum(s_in, c_in)
        t_out = torch.minimum(s_out, c_out)
        side = _step(s_in - c_in)  # 1: entered through the side, 0: a cap
        tc = t_in.clamp(-_TMAX, _TMAX) * side
        nx = (OX + tc * DX) * side / ax
        nz = (OZ + tc * DZ) * side / az
        if name == "cylinder":
            ny = (side - 1.0) * torch.sign(_safe(d[1]))
        else:
            ny = (W0 + tc * DW) * side / (2.0 * ay) + (side - 1.0)
        n = (nx, ny, nz)
    elif name == "octahedron":
        # |x/ax| + |y/ay| + |z/az| <= 1: four slabs with normals (1, +-1, +-1) / a
        t_in = t_out = None
        for sy, sz in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
            m = (1.0 / ax, sy / ay, sz / az)
            i_, o_ = _slab(_dot(m, o), _dot(m, d), 1.0)
            t_in = i_ if t_in is None else torch.maximum(t_in, i_)
            t_out = o_ if t_out is None else torch.minimum(t_out, o_)
        # the face holding the entry point is given by the signs of its coordinates
        tc = t_in.clamp(-_TMAX, _TMAX)
        n = tuple(torch.sign(o[i] + tc * d[i]) / a[i] for i in range(3))
    else:  # pragma: no cover
        raise ValueError(name)
    return (t_in + (t_in - t_out).clamp_(min=0).mul_(_BIG)).clamp_(max=_BIG), n


# depth of the front point of each shape at mid-height, as a fraction of az
_FRONT = {"box": 1.0, "ellipsoid": 1.0, "cylinder": 1.0, "cone": 0.5, "octahedron": 1.0}
# per-shape scale of the half extents, so that the classes look about as big
_SHAPE_SCALE = {"box": 0.82, "ellipsoid": 1.12, "cylinder": 0.92, "cone": 1.28, "octahedron": 1.45}
BELT_WIDTH = 0.14  # half-width of the belt, as a fraction of the y half extent
BELT_SHADE = 0.55  # albedo factor on the belt
MARKER_RADIUS = 0.36  # in units of size
_MARKER_INSET = 0.1  # the marker's centre sits this far (x radius) inside the front


def _extents(f: dict):
    """Half extents (ax, ay, az), each (N, 1), and the marker radius (N, 1)."""
    dev = f["size"].device
    size = f["size"].unsqueeze(1)
    scale = torch.tensor([_SHAPE_SCALE[s] for s in SHAPES], device=dev)[f["shape"]].unsqueeze(1)
    s = size * scale
    return (s * f["width"].unsqueeze(1), s * f["height"].unsqueeze(1), s), MARKER_RADIUS * size


def _bound_radius(f: dict) -> Tensor:
    """(N,) radius of a ball about the origin that holds body and marker."""
    (ax, ay, az), r = _extents(f)
    shape = f["shape"].unsqueeze(1)
    box = (ax * ax + ay * ay + az * az).sqrt()
    cyl = (torch.maximum(ax, az) ** 2 + ay * ay).sqrt()  # cylinder, cone
    vertex = torch.maximum(torch.maximum(ax, ay), az)  # ellipsoid, octahedron
    is_cyl = (shape == SHAPES.index("cylinder")) | (shape == SHAPES.index("cone"))
    body = torch.where(is_cyl, cyl, torch.where(shape == SHAPES.index("box"), box, vertex))
    front = torch.tensor([_FRONT[s] for s in SHAPES], device=ax.device)[f["shape"]].unsqueeze(1)
    return torch.maximum(body, front * az + r).squeeze(1)


def _render_rays(f: dict, u: Tensor, v: Tensor, half_shade: float = 1.0):
    """Cast rays through image-plane points (u, v) (each (1, P)) for every scene.

    ``half_shade``: albedo factor on the body's right half and on its top half (see :func:`render`).

    Returns (body, marker, hit), each float (N, P): the shading (ambient +
    diffuse) of rays that hit the body / the marker (0 elsewhere), and 1 where
    a ray hits the object.
    """
    dev = u.device
    R = _rotation(f["azimuth"], f["elevation"])
    # object-space rays: o = R^T (u, v, 0), d = R^T e_z (row j of R is R^T e_j).
    # Orthographic, so t is measured from the plane through the object's
    # centre and may be negative.
    ex, ey, d = R
    o = tuple(torch.addcmul(u * ex[i], v, ey[i]) for i in range(3))
    a, r = _extents(f)

    # scenes arrive grouped by shape (see render): each group is a slice
    shape = f["shape"]
    bounds = torch.searchsorted(shape, torch.arange(len(SHAPES) + 1, device=dev)).tolist()
    if not bool((shape[1:] >= shape[:-1]).all()):
        raise ValueError("_render_rays needs scenes sorted by shape")
    ts, ns = [], []
    front = torch.tensor([_FRONT[s] for s in SHAPES], device=dev)[shape].unsqueeze(1)
    for k in range(len(SHAPES)):
        lo, hi = bounds[k], bounds[k + 1]
        if hi == lo:
            continue
        sub = lambda vec: tuple(c[lo:hi] for c in vec)
        tk, nk = _hit_shape(k, sub(o), sub(d), sub(a))
        ts.append(tk)
        ns.append(nk)
    t = ts[0] if len(ts) == 1 else torch.cat(ts)
    n = ns[0] if len(ns) == 1 else tuple(torch.cat([x[i] for x in ns]) for i in range(3))

    # the marker: a sphere on the front face (object -z), at mid-height
    cz = -(front * a[2]) + _MARKER_INSET * r
    oc = (o[0], o[1], o[2] - cz)
    B = _dot(oc, d)  # |d| = 1
    disc = B * B - (_dot(oc, oc) - r * r)
    tm = (-B - disc.clamp(min=0).sqrt() + (-disc).clamp_(min=0).mul_(_BIG)).clamp_(max=_BIG)
    mk = _step(t - tm)  # 1 where the marker is in front (t >= _MISS on a body miss)
    # a darker belt around the body's middle (object space): its curve shows the pose
    tb = t.clamp(-_TMAX, _TMAX)
    y = (o[1] + tb * d[1]) / a[1]
    belt = _step(BELT_WIDTH - y.abs())
    tone = 1.0 - (1.0 - BELT_SHADE) * belt
    if half_shade != 1.0:
        # a product of a left/right and a top/bottom split, not a checker: in a checker the area that darkens
        # as the camera rises is the top on one side and the bottom on the other, so its sign follows the azimuth
        off = 1.0 - half_shade
        tone = tone * (1.0 - off * _step(o[0] + tb * d[0])) * (1.0 - off * _step(o[1] + tb * d[1]))
    t = torch.minimum(t, tm)
    hit = _step(_MISS - t)
    tmc = tm.clamp(-_TMAX, _TMAX)
    n = tuple(n[i] + mk * (oc[i] + tmc * d[i] - n[i]) for i in range(3))

    # Lambertian shading, with the light turned into object space
    la = f["light"].unsqueeze(1)
    ce = math.cos(LIGHT_ELEVATION)
    L = (torch.sin(la) * ce, torch.full_like(la, math.sin(LIGHT_ELEVATION)), -torch.cos(la) * ce)
    Lo = tuple(R[0][i] * L[0] + R[1][i] * L[1] + R[2][i] * L[2] for i in range(3))
    lam = (_dot(n, Lo) * _dot(n, n).clamp_(min=1e-20).rsqrt_()).clamp_(min=0)
    shade = (lam * (1.0 - AMBIENT) + AMBIENT) * hit
    mark = shade * mk
    body = (shade - mark) * tone
    return body, mark, hit


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
    g = _TEX_GRID
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


def _window_rays(c: Tensor, k: int, wp: int, ss: int) -> tuple:
    """Image-plane points (u, v), each (1, ss*ss*wp*wp), of the rays in the
    centred window that starts at supersampled pixel k (``c``: supersampled
    pixel centres). Layout: (sub-row, sub-column, row, column)."""
    cw = c[k : k + wp * ss].view(wp, ss).t()  # (sub-sample, pixel)
    shape = (ss, ss, wp, wp)
    u = cw.view(1, ss, 1, wp).expand(shape)
    v = -cw.view(ss, 1, wp, 1).expand(shape)
    return u.reshape(1, -1), v.reshape(1, -1)


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
    background, the channels or ``half_shade``.
    """
    if not 0.0 < half_shade <= 1.0:
        raise ValueError(f"half_shade must be in (0, 1], got {half_shade}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    f = _as_batch(factors)
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
    rb = _bound_radius(f)
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
        u, v = _window_rays(c, k, wp, ss)
        body, mark, hit = _render_rays(fs, u, v, half_shade)
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


class SceneRenderer:
    """Bundles the rendering settings: ``SceneRenderer(32, 1, "plain")``.

    ``renderer(factors)`` renders; ``sample``, ``vary``, ``attributes`` and
    the class attributes mirror the module-level API.
    """

    factor_names = FACTOR_NAMES
    attribute_names = ATTRIBUTE_NAMES
    attribute_groups = ATTRIBUTE_GROUPS
    num_classes = len(SHAPES)

    def __init__(self, image_size: int = 32, channels: int = 1, background: str = "plain", supersample: Optional[int] = None,
                 half_shade: float = 1.0):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
        if not 0.0 < half_shade <= 1.0:
            raise ValueError(f"half_shade must be in (0, 1], got {half_shade}")
        self.image_size, self.channels, self.background = image_size, channels, background
        self.supersample, self.half_shade = supersample, half_shade

    def __call__(self, factors: dict, chunk_rays: int = 1 << 19) -> tuple:
        return render(factors, self.image_size, self.channels, self.background, self.supersample, chunk_rays,
                      self.half_shade)

    render = __call__

    @staticmethod
    def sample(n: int, generator: Optional[torch.Generator] = None, device=None) -> dict:
        return sample_factors(n, generator, device)

    vary = staticmethod(vary)
    attributes = staticmethod(attributes)
    factors_to_tensor = staticmethod(factors_to_tensor)
    factors_from_tensor = staticmethod(factors_from_tensor)
