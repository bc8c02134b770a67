"""A fast procedural renderer of shaded 3-D objects (pure torch, batched).

Every scene is one object seen by an orthographic camera, lit by a directional
light, on a plain or textured background. Rendering is analytic ray casting:
each shape is a convex set (intersection of slabs and one quadric), so the
entry point of a ray is found in closed form. Everything is vectorised over
the batch and the pixels; the only Python loop is over the (five) shape
classes. Images come out in [0, 1], shape (N, C, H, W); masks in {0, 1},
shape (N, 1, H, W).

Scenes are described by a *factor dict* (see :func:`sample_factors`)::

    {"azimuth": (N,), "elevation": (N,), "light": (N,),        # radians
     "shape": (N,) long, "colour": (N,) long,                  # class indices
     "size": (N,), "width": (N,), "height": (N,),              # continuous
     "texture": (N, TEXTURE_DIM)}                              # background nuisance

Factors (ground truth, ``FACTOR_NAMES`` order; angles in RADIANS):

=========== ================================ =====================================
name        range                            meaning
=========== ================================ =====================================
azimuth     [-60 deg, +60 deg]               turn about the vertical axis; positive
                                             turns the object's front (marker) to
                                             the viewer's right
elevation   [-30 deg, +30 deg]               camera height; positive looks down on
                                             the object (its top is visible)
light       [-80 deg, +80 deg]               light azimuth; positive lights from
                                             the viewer's right (light elevation is
                                             fixed at 35 deg)
shape       {0..4}                           ``SHAPES``: box, ellipsoid, cylinder,
                                             cone, octahedron
colour      {0..5}                           ``COLOURS``; in grey, distinct levels
size        [0.30, 0.48]                     depth half-extent, in image half-widths
width       [0.75, 1.25]                     x half-extent / size
height      [0.75, 1.25]                     y half-extent / size
=========== ================================ =====================================

Every factor visibly changes the image: each object carries a contrasting
spherical *marker* (a "nose") on its front face, so a turn left, right, up or
down shows in silhouette and shading, also for the rotationally symmetric
bodies and in grey; no range wraps around.

The API::

    sample_factors(n, generator)         -> factor dict (i.i.d. scenes)
    vary(base, name, n, generator=None)  -> factor dict: only ``name`` changes
    render(factors, image_size, channels, background) -> (images, masks)
    factors_to_tensor(factors)           -> (N, 8) float, FACTOR_NAMES order
    factors_from_tensor(t, texture=None) -> factor dict
    attributes(factors)                  -> (N, 15) float, ATTRIBUTE_NAMES order

Item i of ``sample_factors(n, g)`` only depends on the generator's seed and i
(not on n): all draws come from one row-major ``torch.rand(n, K)``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

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
    "size": (0.30, 0.48),
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
_CAMERA_DISTANCE = 4.0
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
    """Accept scalars (one scene) or batches; fill a missing texture."""
    out = {}
    for name in FACTOR_NAMES:
        v = torch.as_tensor(factors[name])
        out[name] = v.reshape(-1)
    n = out["azimuth"].shape[0]
    dev = out["azimuth"].device
    for name in ("shape", "colour"):
        out[name] = out[name].round().long() if out[name].is_floating_point() else out[name].long()
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


def _finite(t: Tensor) -> Tensor:
    """Entry distances with misses (+-inf) replaced by 0, for normals only."""
    return torch.where(torch.isfinite(t), t, torch.zeros_like(t))


def _slab(o_s: Tensor, d_s: Tensor, h):
    """Entry/exit of the slab |s| <= h along s(t) = o_s + t d_s (d_s per item)."""
    d_s = _safe(d_s)
    inv = 1.0 / d_s
    sgn = torch.sign(d_s)
    t_in = (-sgn * h - o_s) * inv
    t_out = (sgn * h - o_s) * inv
    return t_in, t_out


def _quadric(A: Tensor, B: Tensor, C: Tensor, lower_first: Optional[Tensor] = None):
    """Interval where A t^2 + B t + C <= 0 (A per item).

    For A > 0 the interval between the roots. For A < 0 (double cones) the
    half-line on the side given by ``lower_first`` (True: (-inf, r0]).
    Returns (t_in, t_out) with t_in > t_out meaning empty.
    """
    inf = torch.tensor(float("inf"), device=C.device)
    small = A.abs() < 1e-9
    A_ = torch.where(small, torch.full_like(A, 1e-9), A)
    disc = B * B - 4.0 * A_ * C
    sq = disc.clamp(min=0).sqrt()
    r0 = (-B - sq) / (2.0 * A_)
    r1 = (-B + sq) / (2.0 * A_)
    lo, hi = torch.minimum(r0, r1), torch.maximum(r0, r1)
    miss = disc < 0
    t_in = torch.where(miss, inf, lo)
    t_out = torch.where(miss, -inf, hi)
    if lower_first is not None:
        neg = A < -1e-9
        t_in = torch.where(neg & lower_first, -inf, torch.where(neg, torch.where(miss, -inf, hi), t_in))
        t_out = torch.where(neg & lower_first, torch.where(miss, inf, lo), torch.where(neg, inf, t_out))
    # ray parallel to the quadric's axis: inside everywhere or nowhere
    t_in = torch.where(small, torch.where(C <= 0, -inf, inf), t_in)
    t_out = torch.where(small, torch.where(C <= 0, inf, -inf), t_out)
    return t_in, t_out


def _hit_shape(k: int, o, d, a):
    """Entry distance t (inf on a miss) and object-space normal of shape ``k``.

    ``o``: ray origins (N, P) x3, ``d``: directions (N, 1) x3, ``a``: half
    extents (N, 1) x3.
    """
    ax, ay, az = a
    name = SHAPES[k]
    inf = torch.tensor(float("inf"), device=o[0].device)
    if name == "box":
        ins, outs = zip(*(_slab(o[i], d[i], a[i]) for i in range(3)))
        t_in = torch.maximum(torch.maximum(ins[0], ins[1]), ins[2])
        t_out = torch.minimum(torch.minimum(outs[0], outs[1]), outs[2])
        sx = (ins[0] >= ins[1]) & (ins[0] >= ins[2])
        sy = ~sx & (ins[1] >= ins[2])
        sz = ~sx & ~sy
        n = tuple(-torch.sign(_safe(d[i])) * s.float() for i, s in enumerate((sx, sy, sz)))
    elif name == "ellipsoid":
        O = (o[0] / ax, o[1] / ay, o[2] / az)
        D = (d[0] / ax, d[1] / ay, d[2] / az)
        t_in, t_out = _quadric(_dot(D, D), 2.0 * _dot(O, D), _dot(O, O) - 1.0)
        tc = _finite(t_in)
        p = tuple(o[i] + tc * d[i] for i in range(3))
        n = (p[0] / (ax * ax), p[1] / (ay * ay), p[2] / (az * az))
    elif name == "cylinder":
        OX, OZ, DX, DZ = o[0] / ax, o[2] / az, d[0] / ax, d[2] / az
        s_in, s_out = _quadric(DX * DX + DZ * DZ, 2.0 * (OX * DX + OZ * DZ), OX * OX + OZ * OZ - 1.0)
        c_in, c_out = _slab(o[1], d[1], ay)
        cap = c_in >= s_in
        t_in = torch.maximum(s_in, c_in)
        t_out = torch.minimum(s_out, c_out)
        tc = _finite(t_in)
        px, pz = OX + tc * DX, OZ + tc * DZ
        capf = cap.float()
        n = ((1 - capf) * px / ax, -torch.sign(_safe(d[1])) * capf, (1 - capf) * pz / az)
    elif name == "cone":
        # apex at y = +ay, elliptical base (ax, az) at y = -ay:
        # X^2 + Z^2 <= W^2, W = 1/2 - y / (2 ay) in [0, 1]
        OX, OZ, DX, DZ = o[0] / ax, o[2] / az, d[0] / ax, d[2] / az
        W0 = 0.5 - o[1] / (2.0 * ay)
        DW = -d[1] / (2.0 * ay)
        A = DX * DX + DZ * DZ - DW * DW
        s_in, s_out = _quadric(A, 2.0 * (OX * DX + OZ * DZ - W0 * DW), OX * OX + OZ * OZ - W0 * W0, lower_first=DW < 0)
        c_in, c_out = _slab(o[1], d[1], ay)
        cap = c_in >= s_in
        t_in = torch.maximum(s_in, c_in)
        t_out = torch.minimum(s_out, c_out)
        tc = _finite(t_in)
        px, pz, pw = OX + tc * DX, OZ + tc * DZ, W0 + tc * DW
        capf = cap.float()
        n = ((1 - capf) * px / ax, (1 - capf) * pw / (2.0 * ay) - capf, (1 - capf) * pz / az)
    elif name == "octahedron":
        # |x/ax| + |y/ay| + |z/az| <= 1: four slabs with normals (1, +-1, +-1) / a
        ms = [(1.0 / ax, sy / ay, sz / az) for sy in (1.0, -1.0) for sz in (1.0, -1.0)]
        t_in = torch.full_like(o[0], -float("inf"))
        t_out = torch.full_like(o[0], float("inf"))
        n = (torch.zeros_like(o[0]),) * 3
        for m in ms:
            ds = _safe(_dot(m, d))
            i_, o_ = _slab(_dot(m, o), ds, 1.0)
            better = i_ > t_in
            sg = -torch.sign(ds)
            n = tuple(torch.where(better, sg * m[i], n[i]) for i in range(3))
            t_in = torch.maximum(t_in, i_)
            t_out = torch.minimum(t_out, o_)
    else:  # pragma: no cover
        raise ValueError(name)
    hit = (t_in <= t_out) & (t_out > 0)
    return torch.where(hit, t_in, inf), n


# depth of the front point of each shape at mid-height, as a fraction of az
_FRONT = {"box": 1.0, "ellipsoid": 1.0, "cylinder": 1.0, "cone": 0.5, "octahedron": 1.0}
MARKER_RADIUS = 0.42  # in units of size
_MARKER_INSET = 0.35  # the marker's centre sits this far (x radius) inside the front


def _render_rays(f: dict, u: Tensor, v: Tensor, channels: int):
    """Shade rays through image-plane points (u, v) (each (1, P)) for every scene.

    Returns (colour (N, C, P), hit (N, P) bool).
    """
    N = f["azimuth"].shape[0]
    dev = u.device
    R = _rotation(f["azimuth"], f["elevation"])
    # object-space ray: o = R^T (u, v, -dist), d = R^T e_z
    col = lambda j: tuple(R[j][i] for i in range(3))  # row j of R = R^T e_j
    ex, ey, ez = col(0), col(1), col(2)
    o = tuple(u * ex[i] + v * ey[i] - _CAMERA_DISTANCE * ez[i] for i in range(3))
    d = ez
    size = f["size"].unsqueeze(1)
    a = (size * f["width"].unsqueeze(1), size * f["height"].unsqueeze(1), size)

    P = u.shape[1]
    inf = float("inf")
    t = torch.full((N, P), inf, device=dev)
    n = tuple(torch.zeros(N, P, device=dev) for _ in range(3))
    shape = f["shape"]
    front = torch.zeros(N, 1, device=dev)
    for k, name in enumerate(SHAPES):
        idx = (shape == k).nonzero().squeeze(1)
        if idx.numel() == 0:
            continue
        front[idx] = _FRONT[name]
        sub = lambda vec: tuple(c[idx] for c in vec)
        tk, nk = _hit_shape(k, sub(o), sub(d), sub(a))
        t[idx] = tk
        for i in range(3):
            n[i][idx] = nk[i]

    # the marker: a sphere on the front face (object -z), at mid-height
    r = MARKER_RADIUS * size
    cz = -(front * a[2]) + _MARKER_INSET * r
    oc = (o[0], o[1], o[2] - cz)
    B = _dot(oc, d)  # |d| = 1
    C = _dot(oc, oc) - r * r
    disc = B * B - C
    tm = torch.where(disc >= 0, -B - disc.clamp(min=0).sqrt(), torch.tensor(inf, device=dev))
    marker = tm < t
    t = torch.where(marker, tm, t)
    tmc = _finite(tm)
    pm = tuple(oc[i] + tmc * d[i] for i in range(3))
    n = tuple(torch.where(marker, pm[i], n[i]) for i in range(3))
    hit = torch.isfinite(t)

    # Lambertian shading in camera space
    ncam = tuple(_dot(R[j], n) for j in range(3))
    norm = _dot(ncam, ncam).clamp(min=1e-12).rsqrt()
    la = f["light"].unsqueeze(1)
    ce = math.cos(LIGHT_ELEVATION)
    L = (torch.sin(la) * ce, torch.full_like(la, math.sin(LIGHT_ELEVATION)), -torch.cos(la) * ce)
    lam = (_dot(ncam, L) * norm).clamp(min=0)
    shade = AMBIENT + (1.0 - AMBIENT) * lam  # (N, P)

    if channels == 1:
        body = torch.tensor(_COLOUR_GREY, device=dev)[f["colour"]].view(N, 1, 1)
        mark = torch.tensor(_MARKER_GREY, device=dev)[f["colour"]].view(N, 1, 1)
    else:
        body = torch.tensor(_COLOUR_RGB, device=dev)[f["colour"]].view(N, 3, 1)
        mark = torch.tensor(_MARKER_RGB, device=dev)[f["colour"]].view(N, 3, 1)
    albedo = torch.where(marker.unsqueeze(1), mark, body)
    colour = torch.where(hit.unsqueeze(1), albedo * shade.unsqueeze(1), torch.zeros((), device=dev))
    return colour, hit


def _background(f: dict, size: int, channels: int, background: str) -> Tensor:
    """(N, C, H, W) background in [0, 1]."""
    N = f["azimuth"].shape[0]
    dev = f["azimuth"].device
    if background == "plain":
        return torch.full((N, channels, size, size), PLAIN_BACKGROUND, device=dev)
    tex = f["texture"]
    g = _TEX_GRID
    grid = tex[:, : 3 * g * g].view(N, 3, g, g)
    noise = F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=True)
    freq, ang, phase, amp = tex[:, 3 * g * g : 3 * g * g + 4].unbind(1)
    tint = tex[:, 3 * g * g + 4 :]
    c = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) / size * 2.0 - 1.0
    yy, xx = c.view(1, size, 1), c.view(1, 1, size)
    freq = (1.5 + 3.0 * freq).view(N, 1, 1)
    ang = (math.pi * ang).view(N, 1, 1)
    s = torch.sin(math.pi * freq * (xx * torch.cos(ang) + yy * torch.sin(ang)) + 2 * math.pi * phase.view(N, 1, 1))
    stripes = (0.06 + 0.12 * amp).view(N, 1, 1) * s  # (N, H, W)
    lum = 0.15 + 0.3 * noise.mean(1) + stripes  # ~[0.0, 0.6]
    if channels == 1:
        return lum.unsqueeze(1).clamp(0, 1)
    chroma = 0.25 * (noise - noise.mean(1, keepdim=True)) + 0.2 * (tint - 0.5).view(N, 3, 1, 1)
    return (lum.unsqueeze(1) * (1.0 + chroma)).clamp(0, 1)


def render(
    factors: dict,
    image_size: int = 32,
    channels: int = 1,
    background: str = "plain",
    supersample: Optional[int] = None,
    chunk_rays: int = 1 << 21,
) -> tuple:
    """Render scenes given by a factor dict, for ARBITRARY factor values.

    ``factors``: a factor dict (batched tensors or scalars for one scene;
    ``texture`` optional). Values outside the sampling ranges are allowed
    (objects may then leave the frame). Runs on the factors' device.
    ``supersample``: rays per pixel side for antialiasing (default 2 for
    images up to 48 px, else 1). Returns ``(images, masks)``: images float
    (N, C, H, W) in [0, 1], masks float (N, 1, H, W) in {0, 1} (pixel
    coverage >= 1/2). The mask does not depend on the background.
    """
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
    u = c.view(1, S).expand(S, S).reshape(1, -1)
    v = (-c).view(S, 1).expand(S, S).reshape(1, -1)
    per = max(1, chunk_rays // (S * S))
    imgs, masks = [], []
    for s in range(0, N, per):
        fs = {k: x[s : s + per] for k, x in f.items()}
        n = fs["azimuth"].shape[0]
        colour, hit = _render_rays(fs, u, v, channels)
        colour = colour.view(n, channels, S, S)
        hitf = hit.view(n, 1, S, S).float()
        if ss > 1:
            colour = F.avg_pool2d(colour * hitf, ss)
            hitf = F.avg_pool2d(hitf, ss)
        else:
            colour = colour * hitf
        bg = _background(fs, image_size, channels, background)
        imgs.append((colour + (1.0 - hitf) * bg).clamp_(0, 1))
        masks.append((hitf >= 0.5).float())
    return torch.cat(imgs), torch.cat(masks)


class SceneRenderer:
    """Bundles the rendering settings: ``SceneRenderer(32, 1, "plain")``.

    ``renderer(factors)`` renders; ``sample``, ``vary``, ``attributes`` and
    the class attributes mirror the module-level API.
    """

    factor_names = FACTOR_NAMES
    attribute_names = ATTRIBUTE_NAMES
    attribute_groups = ATTRIBUTE_GROUPS
    num_classes = len(SHAPES)

    def __init__(self, image_size: int = 32, channels: int = 1, background: str = "plain", supersample: Optional[int] = None):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
        self.image_size, self.channels, self.background = image_size, channels, background
        self.supersample = supersample

    def __call__(self, factors: dict, chunk_rays: int = 1 << 21) -> tuple:
        return render(factors, self.image_size, self.channels, self.background, self.supersample, chunk_rays)

    render = __call__

    @staticmethod
    def sample(n: int, generator: Optional[torch.Generator] = None, device=None) -> dict:
        return sample_factors(n, generator, device)

    vary = staticmethod(vary)
    attributes = staticmethod(attributes)
    factors_to_tensor = staticmethod(factors_to_tensor)
    factors_from_tensor = staticmethod(factors_from_tensor)
