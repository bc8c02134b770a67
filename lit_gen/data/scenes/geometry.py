"""The scenes' geometry: analytic ray casting of the five convex bodies, their marker and belt, and Lambertian
shading under one directional light. Vectors are tuples of three tensors: per-item (N, 1) or per-ray (N, P).
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from lit_gen.data.scenes.factors import DEG, SHAPES

Tensor = torch.Tensor

LIGHT_ELEVATION = 35.0 * DEG
AMBIENT = 0.3



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


def bound_radius(f: dict) -> Tensor:
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


def render_rays(f: dict, u: Tensor, v: Tensor, half_shade: float = 1.0):
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
        raise ValueError("render_rays needs scenes sorted by shape")
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


def window_rays(c: Tensor, k: int, wp: int, ss: int) -> tuple:
    """Image-plane points (u, v), each (1, ss*ss*wp*wp), of the rays in the
    centred window that starts at supersampled pixel k (``c``: supersampled
    pixel centres). Layout: (sub-row, sub-column, row, column)."""
    cw = c[k : k + wp * ss].view(wp, ss).t()  # (sub-sample, pixel)
    shape = (ss, ss, wp, wp)
    u = cw.view(1, ss, 1, wp).expand(shape)
    v = -cw.view(ss, 1, wp, 1).expand(shape)
    return u.reshape(1, -1), v.reshape(1, -1)

