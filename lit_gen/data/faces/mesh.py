"""A coarser face mesh for small images: vertex clustering of the Surrey model.

At 32-64 px the model's 6,784 triangles are far below a pixel each, and the
rasterizer's work is per triangle, so most of it goes to triangles that cover
no pixel centre. Clustering the mean face's vertices in a grid of cubes of a
given side keeps, per occupied cube, the one vertex nearest the cube's
centroid; every triangle is mapped to those vertices, and the ones that lose a
corner (two corners in one cube) or repeat another are dropped.

The kept vertices are vertices of the model, so the coarse model is the full
one restricted to them: its mean, basis rows and blendshape rows are selected,
not refitted, and a face's coarse mesh passes through the same points as its
full mesh. The map from the full mesh to the coarse one is continuous, so the
coarse surface keeps the outline and has no holes the full one lacks. The
mouth's caps stay caps: each keeps its own vertex, over its rim's kept
vertices.
"""

from __future__ import annotations

import torch

from lit_gen.data.faces.model import FaceModel


def decimate(model: FaceModel, cell: float) -> FaceModel:
    """The model restricted to one vertex per occupied ``cell``-sided cube of its mean face (millimetres)."""
    if cell <= 0:
        return model
    v = model.mean.shape[0]
    points = model.mean.double()
    cube = torch.floor((points - points.amin(0)) / cell).long()
    _, cluster = torch.unique(cube, dim=0, return_inverse=True)
    k = int(cluster.max()) + 1
    size = torch.zeros(k, dtype=torch.float64).index_add_(0, cluster, torch.ones(v, dtype=torch.float64))
    centroid = torch.zeros(k, 3, dtype=torch.float64).index_add_(0, cluster, points) / size.unsqueeze(1)
    dist = (points - centroid[cluster]).norm(dim=1)
    nearest = torch.full((k,), float("inf"), dtype=torch.float64).scatter_reduce_(0, cluster, dist, reduce="amin")
    # ties go to the lowest vertex index, so the choice does not depend on the order of the reduction
    candidate = torch.where(dist <= nearest[cluster], torch.arange(v), torch.full((v,), v))
    rep = torch.full((k,), v, dtype=torch.long).scatter_reduce_(0, cluster, candidate, reduce="amin")
    kept = torch.sort(rep).values  # the kept vertices, in model order
    new_id = torch.empty(k, dtype=torch.long)
    new_id[torch.argsort(rep)] = torch.arange(k)
    caps = len(model.cap_rims)
    # old vertex id -> new id; cap vertex V + j -> k + j
    remap = torch.cat([new_id[cluster], k + torch.arange(caps)])
    tri = remap[model.triangles]
    tri = tri[(tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])]
    # one triangle per corner set, the first in the model's order (two of opposite winding would cancel
    # each other's normal)
    _, inverse = torch.unique(torch.sort(tri, dim=1).values, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(tri), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(tri)), reduce="amin")
    tri = tri[torch.sort(first).values]
    rims = tuple(torch.unique_consecutive(remap[rim]) for rim in model.cap_rims)
    c = model.basis.shape[1]
    rows = (3 * kept.unsqueeze(1) + torch.arange(3)).reshape(-1)
    return FaceModel(mean=model.mean[kept].contiguous(), basis=model.basis.view(v * 3, c)[rows].contiguous(),
                     std=model.std, triangles=tri.contiguous(),
                     blendshapes=model.blendshapes[:, rows].contiguous(), cap_rims=rims)
