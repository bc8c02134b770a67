"""Renders faces of the Surrey Face Model at known pose, light and identity (batched: torch, and on the CPU the
compiled kernels of :mod:`lit_gen.data.faces.kernel` for the same arithmetic where a C compiler is found).

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

from lit_gen.data.faces.mesh import decimate
from lit_gen.data.faces.model import EXPRESSIONS, FaceModel
from lit_gen.data.faces.kernel import (kernel_for, project_compiled, shade_compiled, shapes_compiled,
                                       vertex_adjacency, vertex_normals_compiled)
from lit_gen.data.faces.raster import flat_nonzero, rasterize

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


def _rotate(points: Tensor, rot: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The rotated x, y, z (each (N, P)) of (N, P, 3) points under (N, 3, 3) rotations.

    Elementwise products, so an image's rounding does not depend on the batch (unlike bmm); per coordinate, so
    every operand is contiguous (a broadcast (N, P, 3, 3) product took a third of a render).
    """
    x, y, z = (points[..., k].contiguous() for k in range(3))
    return tuple(rot[:, k, 0:1] * x + rot[:, k, 1:2] * y + rot[:, k, 2:3] * z for k in range(3))


def _dot(a, b) -> Tensor:
    """The dot product of two vectors held as (x, y, z) planes."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _inverse_length(v) -> Tensor:
    return _dot(v, v).sqrt_().clamp_(min=1e-12).reciprocal_()


class FaceRenderer:
    """Factors (N, F) -> (images, masks); also the factor sampling and one-group variation DC-IGN needs."""

    def __init__(self, model: FaceModel, image_size: int = 64, channels: int = 1, identity_dims: int = 20,
                 expressions: bool = False, azimuth: Sequence[float] = (-75.0, 75.0),
                 elevation: Sequence[float] = (-30.0, 30.0), light: Sequence[float] = (-90.0, 90.0),
                 light_elevation: float = 20.0, ambient: float = 0.25, specular: float = 0.0,
                 expression_max: float = 1.0, fill: float = 0.95, identity_pool: Optional[Tensor] = None,
                 mesh_cell: float = 0.0):
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
        # the frame comes from the full mesh, so a coarser mesh does not move or resize the face
        lo, hi = model.mean.amin(0), model.mean.amax(0)
        self.pivot = (lo + hi) / 2
        radius = float((model.mean - self.pivot).norm(dim=1).max())
        self.scale = fill * (self.size / 2) / radius
        # mesh_cell: pixels, the side of decimate's cubes at this image size (0: the full mesh)
        self.model = model = decimate(model, float(mesh_cell) / self.scale)
        self.basis = model.basis[:, : self.k].T.contiguous() * model.std[: self.k, None]  # (K, V*3)
        self._corners = [model.triangles[:, j].contiguous() for j in range(3)]
        self._adjacency = vertex_adjacency(model.triangles)  # the compiled vertex normals' per-vertex triangles
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
        lib = kernel_for(coeffs)
        if lib is not None:
            flat = shapes_compiled(lib, m.mean, coeffs[:, : self.k], self.basis)
        else:
            flat = m.mean.reshape(1, -1) + torch.stack([row @ self.basis for row in coeffs[:, : self.k]])
        if self.expressions:
            flat = flat + torch.stack([row @ m.blendshapes for row in coeffs[:, self.k :]])
        return m.with_caps(flat.view(len(coeffs), -1, 3) - self.pivot)

    def vertex_normals(self, verts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The x, y, z (each (N, V)) of the unit normals of (N, V, 3) vertices: the area-weighted mean of the
        adjacent triangles' normals."""
        lib = kernel_for(verts)
        if lib is not None:
            return tuple(vertex_normals_compiled(lib, verts, self.model.triangles, self._adjacency))
        n, nv = verts.shape[:2]
        flat = [verts[..., k].reshape(n, nv) for k in range(3)]
        corner = [[c.index_select(1, tri) for c in flat] for tri in self._corners]  # corner j, coordinate k: (N, T)
        e1 = [corner[1][k] - corner[0][k] for k in range(3)]
        e2 = [corner[2][k] - corner[0][k] for k in range(3)]
        fn = (e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0])
        vn = [torch.zeros(n, nv) for _ in range(3)]
        for k in range(3):
            for tri in self._corners:
                vn[k].index_add_(1, tri, fn[k])
        inv = _inverse_length(vn)
        return tuple(c * inv for c in vn)

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
        normals_u = [c.reshape(-1) for c in self.vertex_normals(verts_u)]  # x, y, z of (face, vertex)
        vface = views[:, 0].long()
        rot = self.rotation(views[:, 1], views[:, 2])
        lib = kernel_for(verts_u)
        if lib is not None:
            screen = project_compiled(lib, verts_u, vface, rot, s, self.scale)
        else:
            x, y, z = _rotate(verts_u.index_select(0, vface), rot)
            screen = torch.stack([s / 2 + self.scale * x, s / 2 - self.scale * y, -z], 2)
        tri, bary = rasterize(screen, self.model.triangles, s, s)
        inverse = rot.transpose(1, 2).index_select(0, view_of)  # (n, 3, 3): view frame -> face frame
        to_face = lambda v: [(inverse[:, k] * v).sum(1, keepdim=True) for k in range(3)]  # noqa: E731
        light_v = self.light_dir(f[:, 2])
        light = to_face(light_v)
        if lib is not None and self.specular == 0:  # the compiled shading has no specular term: that stays in torch
            return shade_compiled(lib, tri, bary, torch.stack(normals_u).view(3, len(faces), -1),
                                  self.model.triangles, vface, rot[:, 2], view_of, torch.cat(light, 1),
                                  self.albedo, self.ambient)
        covered = tri >= 0
        pix = flat_nonzero(covered)  # flat (view, row, column) of the covered pixels
        view = torch.div(pix, s * s, rounding_mode="floor")
        # the interpolated normal at each covered pixel, one coordinate at a time (broadcasts over a trailing
        # dimension of 3 were most of a render)
        visible = tri.reshape(-1).index_select(0, pix)
        offset = vface.index_select(0, view) * verts_u.shape[1]
        weights = bary.permute(3, 0, 1, 2).reshape(3, -1).index_select(1, pix)
        vids = [corner.index_select(0, visible) + offset for corner in self._corners]
        nrm = [sum(weights[j] * comp.index_select(0, vids[j]) for j in range(3)) for comp in normals_u]
        # shading happens in the face's own frame: the light and the viewer turn by the inverse rotation, so
        # the normals are never rotated; two-sided: a back face is lit as seen
        toward = [rot[:, 2, k].index_select(0, view) for k in range(3)]
        scale = _inverse_length(nrm)
        scale = torch.where(_dot(nrm, toward) < 0, -scale, scale)
        plane = lambda c: torch.zeros(len(views) * s * s).index_copy_(0, pix, c * scale).view(len(views), -1)  # noqa: E731
        normal_map = [plane(c).index_select(0, view_of) for c in nrm]  # x, y, z: (n, H * W) each
        dot = _dot(normal_map, light)
        shade = self.ambient + (1.0 - self.ambient) * dot.clamp_(min=0.0)
        if self.specular > 0:
            half = to_face(torch.nn.functional.normalize(light_v + torch.tensor([0.0, 0.0, 1.0]), dim=1))
            dot = _dot(normal_map, half)
            highlight = self.specular * dot.clamp_(min=0.0).pow_(20.0)
        mask = covered.view(len(views), -1).index_select(0, view_of).float()  # (n, H * W)
        channels = []
        for albedo in self.albedo.tolist():
            value = shade * albedo
            if self.specular > 0:
                value = value + highlight
            channels.append(value.clamp_(0.0, 1.0).mul_(mask))
        images = torch.stack(channels, 1).view(n, self.channels, s, s)
        return images, mask.view(n, 1, s, s)
