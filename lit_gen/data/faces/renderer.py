"""Renders faces of the Surrey Face Model at known pose, light and identity (pure torch, batched).

A face is the model's mean shape plus its first K shape components (the
identity coefficients ``id_0 .. id_{K-1}``, standard-normal, truncated at
``IDENTITY_TRUNCATION``) plus, optionally, the 6 expression blendshapes
(weights in [0, expression_max]). It is turned about its bounding box's centre
(azimuth about the vertical axis, then elevation about the horizontal one),
projected orthographically, rasterized with a z-buffer
(:mod:`lit_gen.data.faces.raster`) and shaded per pixel from interpolated
vertex normals: Lambert plus ambient, optional Blinn-Phong specular, under a
directional light whose azimuth is a factor and whose elevation is fixed.

Factors (``factor_names`` order; angles in radians; ranges are config keys, defaults below):

=============== ================ =================================================
name            default range    meaning
=============== ================ =================================================
azimuth         [-75, +75] deg   positive turns the face (its nose) to the viewer's right
elevation       [-30, +30] deg   positive: seen from above (the nose moves down)
light           [-90, +90] deg   light azimuth; positive lights from the viewer's right
id_0 .. id_K-1  N(0, 1), |.|<=2.5 shape coefficient k, in units of its standard deviation
<expression>    [0, max]         blendshape weight (only with expressions on)
=============== ================ =================================================

The scale is fixed: the mean face's bounding sphere, times ``fill``, spans
the frame, so every face stays centred and fills most of it at every pose.
Images are float in [0, 1], (N, C, H, W), on a black background; masks
(N, 1, H, W) in {0, 1} are the silhouette. Rendering is deterministic.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from lit_gen.data.faces.model import EXPRESSIONS, FaceModel
from lit_gen.data.faces.raster import rasterize

Tensor = torch.Tensor

EXTRINSIC = ("azimuth", "elevation", "light")
IDENTITY_TRUNCATION = 2.5
GREY_ALBEDO = 0.85
RGB_ALBEDO = (0.93, 0.74, 0.62)  # a skin tone; the model has no texture
_DEG = math.pi / 180.0


def _ndtri(p: Tensor) -> Tensor:
    return math.sqrt(2.0) * torch.erfinv(2.0 * p - 1.0)


def truncated_normal(n: int, k: int, generator: Optional[torch.Generator],
                     bound: float = IDENTITY_TRUNCATION) -> Tensor:
    """(n, k) standard-normal draws truncated to [-bound, bound] (inverse CDF; row i depends only on the seed and i)."""
    lo = 0.5 * (1.0 + math.erf(-bound / math.sqrt(2.0)))
    u = torch.rand(n, k, generator=generator, dtype=torch.float64)
    return _ndtri(lo + u * (1.0 - 2.0 * lo)).float()


def _rotate(points: Tensor, rot: Tensor) -> Tensor:
    """(N, P, 3) points times (N, 3, 3) rotations, elementwise (row-independent rounding, unlike bmm)."""
    return (points.unsqueeze(2) * rot.unsqueeze(1)).sum(3)


class FaceRenderer:
    """Factors (N, F) -> (images, masks); also the factor sampling and one-group variation DC-IGN needs."""

    def __init__(self, model: FaceModel, image_size: int = 64, channels: int = 1, identity_dims: int = 20,
                 expressions: bool = False, azimuth: Sequence[float] = (-75.0, 75.0),
                 elevation: Sequence[float] = (-30.0, 30.0), light: Sequence[float] = (-90.0, 90.0),
                 light_elevation: float = 20.0, ambient: float = 0.25, specular: float = 0.0,
                 expression_max: float = 1.0, fill: float = 0.95, identity_pool: Optional[Tensor] = None):
        self.model = model
        self.size, self.channels, self.k = int(image_size), int(channels), int(identity_dims)
        self.expressions = bool(expressions)
        self.factor_names = EXTRINSIC + tuple(f"id_{i}" for i in range(self.k)) + (EXPRESSIONS if expressions else ())
        self.factor_ranges = {"azimuth": (azimuth[0] * _DEG, azimuth[1] * _DEG),
                              "elevation": (elevation[0] * _DEG, elevation[1] * _DEG),
                              "light": (light[0] * _DEG, light[1] * _DEG)}
        self.discrete: tuple = ()
        self.light_elevation = light_elevation * _DEG
        self.ambient, self.specular, self.expression_max = float(ambient), float(specular), float(expression_max)
        self.identity_pool = identity_pool  # (M, K): "intrinsic" variations draw identities from here
        lo, hi = model.mean.amin(0), model.mean.amax(0)
        self.pivot = (lo + hi) / 2
        radius = float((model.mean - self.pivot).norm(dim=1).max())
        self.scale = fill * (self.size / 2) / radius
        self.basis = model.basis[:, : self.k].T.contiguous() * model.std[: self.k, None]  # (K, V*3)
        self.albedo = torch.tensor((GREY_ALBEDO,) if channels == 1 else RGB_ALBEDO)

    # ------------------------------------------------------------------ factors

    @property
    def num_factors(self) -> int:
        return len(self.factor_names)

    def sample_extrinsic(self, n: int, generator: Optional[torch.Generator]) -> Tensor:
        """(n, 3) azimuth, elevation, light, uniform over their ranges."""
        u = torch.rand(n, len(EXTRINSIC), generator=generator)
        lo = torch.tensor([self.factor_ranges[k][0] for k in EXTRINSIC])
        hi = torch.tensor([self.factor_ranges[k][1] for k in EXTRINSIC])
        return lo + (hi - lo) * u

    def sample_expressions(self, n: int, generator: Optional[torch.Generator]) -> Tensor:
        if not self.expressions:
            return torch.zeros(n, 0)
        return self.expression_max * torch.rand(n, len(EXPRESSIONS), generator=generator)

    def vary(self, base: Tensor, names: Sequence[str], n: int, generator: torch.Generator) -> Tensor:
        """``n`` copies of the (F,) factor row ``base`` with the factors ``names`` drawn afresh.

        An identity coefficient in ``names`` redraws the whole identity: a face of the identity pool when
        there is one (the training identities), else a new one; expressions are redrawn with it.
        """
        out = base.reshape(1, -1).float().repeat(n, 1)
        cols = [self.factor_names.index(k) for k in names]
        ext = [c for c in cols if c < len(EXTRINSIC)]
        if ext:
            out[:, ext] = self.sample_extrinsic(n, generator)[:, ext]
        if any(c >= len(EXTRINSIC) for c in cols):
            ids = slice(len(EXTRINSIC), len(EXTRINSIC) + self.k)
            if self.identity_pool is not None:
                out[:, ids] = self.identity_pool[torch.randint(len(self.identity_pool), (n,), generator=generator)]
            else:
                out[:, ids] = truncated_normal(n, self.k, generator)
            out[:, len(EXTRINSIC) + self.k :] = self.sample_expressions(n, generator)
        return out

    # ------------------------------------------------------------------ rendering

    def shapes(self, coeffs: Tensor) -> Tensor:
        """(N, V + caps, 3) vertices, centred on the pivot, for (N, K [+ 6]) identity (+ expression) rows."""
        m = self.model
        # one vector-matrix product per face, not one matmul for the batch: a BLAS kernel's rounding may depend
        # on the batch's size, and an image must depend on its own factors only
        flat = m.mean.reshape(1, -1) + torch.stack([row @ self.basis for row in coeffs[:, : self.k]])
        if self.expressions:
            flat = flat + torch.stack([row @ m.blendshapes for row in coeffs[:, self.k :]])
        return m.with_caps(flat.view(len(coeffs), -1, 3) - self.pivot)

    def vertex_normals(self, verts: Tensor) -> Tensor:
        """(N, V, 3) unit normals: the area-weighted mean of the adjacent triangles' normals."""
        tri = self.model.triangles
        n, nv = verts.shape[:2]
        flat = [verts[..., k].reshape(n, nv) for k in range(3)]
        corner = [[c.index_select(1, tri[:, j]) for c in flat] for j in range(3)]  # corner j, coordinate k: (N, T)
        e1 = [corner[1][k] - corner[0][k] for k in range(3)]
        e2 = [corner[2][k] - corner[0][k] for k in range(3)]
        fn = torch.stack([e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                          e1[0] * e2[1] - e1[1] * e2[0]], 2)
        vn = torch.zeros_like(verts)
        for j in range(3):
            vn.index_add_(1, tri[:, j], fn)
        return torch.nn.functional.normalize(vn, dim=2, eps=1e-12)

    @staticmethod
    def rotation(az: Tensor, el: Tensor) -> Tensor:
        """(N, 3, 3): turn about y by the azimuth, then about x by the elevation."""
        ca, sa, ce, se = az.cos(), az.sin(), el.cos(), el.sin()
        one, zero = torch.ones_like(az), torch.zeros_like(az)
        ry = torch.stack([ca, zero, sa, zero, one, zero, -sa, zero, ca], 1).view(-1, 3, 3)
        rx = torch.stack([one, zero, zero, zero, ce, -se, zero, se, ce], 1).view(-1, 3, 3)
        return rx @ ry

    def light_dir(self, light: Tensor) -> Tensor:
        ce = math.cos(self.light_elevation)
        up = torch.full_like(light, math.sin(self.light_elevation))
        return torch.stack([light.sin() * ce, up, light.cos() * ce], 1)

    @torch.no_grad()
    def render(self, factors: Tensor, generator: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor]:
        """(images (N, C, H, W) in [0, 1], masks (N, 1, H, W)) for a (N, F) factor tensor (nothing is random)."""
        f = factors.float().reshape(-1, self.num_factors)
        n, s = len(f), self.size
        if n == 0:
            return torch.zeros(0, self.channels, s, s), torch.zeros(0, 1, s, s)
        # one shape and normal computation per distinct face, and one rasterization per distinct view of a
        # face: a pose batch shows one face, a light batch one view of it
        faces, face_of = torch.unique(f[:, len(EXTRINSIC) :], dim=0, return_inverse=True)
        view_keys = torch.cat([face_of.unsqueeze(1).float(), f[:, :2]], 1)
        views, view_of = torch.unique(view_keys, dim=0, return_inverse=True)
        verts_u = self.shapes(faces)
        normals_u = self.vertex_normals(verts_u)
        vface = views[:, 0].long()
        rot = self.rotation(views[:, 1], views[:, 2])
        verts, normals = _rotate(verts_u[vface], rot), _rotate(normals_u[vface], rot)
        screen = torch.stack([s / 2 + self.scale * verts[..., 0], s / 2 - self.scale * verts[..., 1],
                              -verts[..., 2]], 2)
        tri, bary = rasterize(screen, self.model.triangles, s, s)
        covered = tri >= 0
        pix = covered.reshape(-1).nonzero().squeeze(1)  # flat (view, row, column) of the covered pixels
        nv = normals.shape[1]
        corner = self.model.triangles.index_select(0, tri.reshape(-1).index_select(0, pix))  # (P, 3) vertex ids
        corner = corner + (torch.div(pix, s * s, rounding_mode="floor") * nv).unsqueeze(1)
        w = bary.reshape(-1, 3).index_select(0, pix)
        nrm = (normals.reshape(-1, 3).index_select(0, corner.reshape(-1)).view(-1, 3, 3) * w.unsqueeze(2)).sum(1)
        nrm = torch.nn.functional.normalize(nrm, dim=1, eps=1e-12)
        nrm = nrm * torch.where(nrm[:, 2:] < 0, -1.0, 1.0)  # two-sided: a back face is lit as seen
        normal_map = torch.zeros(len(views) * s * s, 3).index_copy_(0, pix, nrm).view(len(views), s, s, 3)
        normal_map, covered = normal_map[view_of], covered[view_of]  # (n, H, W, 3), (n, H, W)
        light = self.light_dir(f[:, 2]).view(n, 1, 1, 3)
        shade = self.ambient + (1.0 - self.ambient) * (normal_map * light).sum(3).clamp(min=0.0)
        value = shade.unsqueeze(3) * self.albedo
        if self.specular > 0:
            half = torch.nn.functional.normalize(light + torch.tensor([0.0, 0.0, 1.0]), dim=3)
            value = value + self.specular * (normal_map * half).sum(3, keepdim=True).clamp(min=0.0).pow(20.0)
        images = value.clamp(0.0, 1.0) * covered.unsqueeze(3)
        return images.permute(0, 3, 1, 2).contiguous(), covered.unsqueeze(1).float()
