"""The Surrey Face Model (a 3-D morphable face model), read with eos-py.

The model file is free for non-commercial use only, so lit_gen never ships
it: the user points ``data.root`` at a folder holding ``sfm/`` (the files of
the eos project's ``share/`` folder). eos-py is an optional extra
(``pip install -e ".[faces]"``); nothing else in lit_gen needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lit_gen.data.faces.checks import BLENDSHAPE_FILE, SHAPE_FILE, check_available, import_eos, model_dir
from lit_gen.errors import UserError

EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")


@dataclass(frozen=True)
class FaceModel:
    """Shape PCA model: a face is ``mean + basis @ (alpha * std)`` (+ blendshapes @ weights), millimetres."""

    mean: torch.Tensor  # (V, 3)
    basis: torch.Tensor  # (V * 3, C) orthonormal columns (a coarse mesh keeps some of the full mesh's rows)
    std: torch.Tensor  # (C,) square roots of the eigenvalues
    triangles: torch.Tensor  # (T, 3) long, counter-clockwise seen from the front (+z); caps included
    blendshapes: torch.Tensor  # (len(EXPRESSIONS), V * 3)
    # the mesh's inner openings (the mouth): each is closed by a fan of triangles around one extra vertex,
    # numbered V, V + 1, ..., placed at the mean of its rim's vertices (see ``with_caps``)
    cap_rims: tuple = ()

    @property
    def num_components(self) -> int:
        return int(self.std.numel())

    def with_caps(self, verts: torch.Tensor) -> torch.Tensor:
        """(N, V, 3) vertices plus one cap vertex per inner opening: (N, V + len(cap_rims), 3)."""
        if not self.cap_rims:
            return verts
        return torch.cat([verts] + [verts[:, rim].mean(1, keepdim=True) for rim in self.cap_rims], 1)


def load_face_model(root) -> FaceModel:
    """The model under ``<root>/sfm/``; UserError naming the path when a file or eos-py is missing."""
    check_available(root)
    return _load(str(model_dir(root).resolve()))


@lru_cache(maxsize=2)
def _load(folder: str) -> FaceModel:
    eos = import_eos()
    try:
        shape = eos.morphablemodel.load_model(str(Path(folder) / SHAPE_FILE)).get_shape_model()
        blend = eos.morphablemodel.load_blendshapes(str(Path(folder) / BLENDSHAPE_FILE))
    except RuntimeError as e:
        raise UserError(f"data.name=faces: could not read {folder}/{SHAPE_FILE}: {str(e).splitlines()[0]}") from None
    mean = torch.tensor(np.asarray(shape.get_mean(), dtype=np.float32)).view(-1, 3)
    basis = torch.tensor(np.asarray(shape.get_orthonormal_pca_basis(), dtype=np.float32))
    eigenvalues = np.maximum(np.asarray(shape.get_eigenvalues(), dtype=np.float64), 0.0)
    std = torch.tensor(np.sqrt(eigenvalues), dtype=torch.float32)
    tri = torch.tensor(np.asarray(shape.get_triangle_list(), dtype=np.int64))
    names = [b.name for b in blend]
    order = [names.index(e) for e in EXPRESSIONS if e in names]
    blends = torch.tensor(np.stack([np.asarray(blend[i].deformation, dtype=np.float32) for i in order]))
    # orient every triangle so that its normal points out of the face (toward +z at the front)
    v = mean[tri]
    n = torch.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=1)
    if float(n[:, 2].sum()) < 0:
        tri = tri[:, [0, 2, 1]]
    tri, rims = _close_openings(tri, len(mean))
    return FaceModel(mean=mean, basis=basis, std=std, triangles=tri.contiguous(), blendshapes=blends, cap_rims=rims)


def _close_openings(tri: torch.Tensor, num_vertices: int) -> tuple:
    """Triangles that close every boundary loop but the longest (the face's outline), and the loops' vertices.

    The Surrey mesh's lips do not meet: without a cap the background shows through the mouth. A boundary
    edge a -> b (in its triangle's winding) gets the triangle (b, a, cap), so the caps keep the winding.
    """
    edges = torch.cat([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]).tolist()
    directed = set(map(tuple, edges))
    boundary = [(a, b) for a, b in edges if (b, a) not in directed]
    succ = dict(boundary)
    loops, seen = [], set()
    for a, _ in boundary:
        if a in seen:
            continue
        loop, v = [], a
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = succ[v]
        loops.append(loop)
    loops.sort(key=len, reverse=True)
    extra, rims = [], []
    for j, loop in enumerate(loops[1:]):
        cap = num_vertices + j
        extra += [(succ[a], a, cap) for a in loop]
        rims.append(torch.tensor(loop))
    if extra:
        tri = torch.cat([tri, torch.tensor(extra, dtype=tri.dtype)])
    return tri, tuple(rims)
