"""A triangle rasterizer with a z-buffer, in torch, vectorised over the batch.

Work is proportional to the triangles plus the pixel centres inside their
bounding boxes, not to triangles x pixels: each triangle lists the pixel
centres of its box (a repeat over per-triangle counts), keeps
those its three edge functions accept, and the z-buffer keeps the nearest
fragment per pixel (``scatter_reduce`` "amin"; ties go to the higher triangle
index, so the result does not depend on the order of the fragments). At
32-128 px a face mesh's triangles cover a pixel or less, so this stays close
to one fragment per covered pixel. Every per-triangle quantity is a contiguous
1-D array gathered with ``index_select``: advanced indexing and strided
(triangle, corner) views took most of the time. On the CPU, numpy turns masks
into indices and repeats them (faster there than torch's ``nonzero`` and
``repeat_interleave`` on arrays of 10^5 entries; benchmarks/bench_faces.py).

Coverage is inclusive (a centre on an edge belongs to both triangles, with a
small tolerance), so shared edges leave no holes; both windings are drawn
(two-sided), so a mesh seen from behind has no holes either.

Conventions: screen x to the right and y down, in pixels; pixel (i, j) has
its centre at (j + 0.5, i + 0.5). Depth: smaller is nearer.
"""

from __future__ import annotations

import numpy as np
import torch

from lit_gen.data.faces.kernel import kernel_for, rasterize_compiled

Tensor = torch.Tensor

EDGE_EPS = 1e-6  # tolerance of the inside test, on barycentric weights


def flat_nonzero(mask: Tensor) -> Tensor:
    """The indices of the true entries of a flattened boolean tensor, in order."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.reshape(-1).numpy()))
    return mask.reshape(-1).nonzero().squeeze(1)


def repeat(values: Tensor, counts: Tensor) -> Tensor:
    """``torch.repeat_interleave(values, counts)`` for 1-D tensors."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.repeat(values.numpy(), counts.numpy()))
    return torch.repeat_interleave(values, counts)


def rasterize(screen: Tensor, triangles: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Visible triangle and barycentric weights per pixel (see :func:`rasterize_torch`).

    float32 on the CPU goes through the compiled kernel (:mod:`lit_gen.data.faces.kernel`, the same results)
    where it builds; anything else, or no C compiler, through :func:`rasterize_torch`.
    """
    lib = kernel_for(screen)
    if lib is not None:
        return rasterize_compiled(lib, screen, triangles, height, width)
    return rasterize_torch(screen, triangles, height, width)


def rasterize_torch(screen: Tensor, triangles: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Visible triangle and barycentric weights per pixel.

    ``screen``: (B, V, 3) vertex positions (x px, y px, depth); ``triangles``:
    (T, 3) long vertex indices. Returns ``tri`` (B, H, W) long, the visible
    triangle (-1: background), and ``bary`` (B, H, W, 3), its barycentric
    weights at the pixel centre (0 on the background), a view of one
    contiguous (3, B, H, W) plane per corner.
    """
    B, V = screen.shape[:2]
    T = triangles.shape[0]
    dev, dt = screen.device, screen.dtype
    base = V * torch.arange(B, device=dev).unsqueeze(1)
    coords = [screen[..., k].reshape(-1) for k in range(3)]
    # corner c of every (image, triangle), one contiguous 1-D array per coordinate
    x, y, z = ([coord.index_select(0, (triangles[:, c].unsqueeze(0) + base).reshape(-1)) for c in range(3)]
               for coord in coords)
    area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0])
    # pixel-centre index ranges of each box, clipped to the image
    lo = lambda c: torch.minimum(torch.minimum(c[0], c[1]), c[2])  # noqa: E731
    hi = lambda c: torch.maximum(torch.maximum(c[0], c[1]), c[2])  # noqa: E731
    x0 = torch.ceil(lo(x) - 0.5).clamp_(min=0)
    y0 = torch.ceil(lo(y) - 0.5).clamp_(min=0)
    nx = (torch.floor(hi(x) - 0.5).clamp_(max=width - 1) - x0 + 1).clamp_(min=0)
    ny = (torch.floor(hi(y) - 0.5).clamp_(max=height - 1) - y0 + 1).clamp_(min=0)
    count = (nx * ny).long() * (area.abs() > 1e-12)
    keep = flat_nonzero(count)
    tri_out = torch.full((B * height * width,), -1, dtype=torch.long, device=dev)
    bary_out = torch.zeros(3, B * height * width, dtype=dt, device=dev)  # one plane per corner
    if keep.numel() == 0:
        return tri_out.view(B, height, width), bary_out.view(3, B, height, width).permute(1, 2, 3, 0)
    counts = count.index_select(0, keep)
    start = torch.cumsum(counts, 0) - counts
    owner = repeat(keep, counts)  # the flat (image, triangle) index of each candidate
    at = lambda a: a.index_select(0, owner)  # noqa: E731
    offset = torch.arange(len(owner), device=dev) - repeat(start, counts)
    width_o = at(nx).long()
    dy = torch.div(offset, width_o, rounding_mode="floor")
    px = at(x0) + (offset - dy * width_o).to(dt) + 0.5
    py = at(y0) + dy.to(dt) + 0.5
    X, Y, A = [at(c) for c in x], [at(c) for c in y], at(area)
    # edge functions: w_i is the doubled area opposite corner i, so w / area are the barycentric weights
    w0 = ((X[2] - X[1]) * (py - Y[1]) - (Y[2] - Y[1]) * (px - X[1])) / A
    w1 = ((X[0] - X[2]) * (py - Y[2]) - (Y[0] - Y[2]) * (px - X[2])) / A
    w2 = 1.0 - w0 - w1
    inside = flat_nonzero((w0 >= -EDGE_EPS) & (w1 >= -EDGE_EPS) & (w2 >= -EDGE_EPS))
    owner = owner.index_select(0, inside)
    w0, w1, w2 = (w.index_select(0, inside) for w in (w0, w1, w2))
    depth = w0 * z[0].index_select(0, owner) + w1 * z[1].index_select(0, owner) + w2 * z[2].index_select(0, owner)
    b = torch.div(owner, T, rounding_mode="floor")
    pix = (b * height + (py.index_select(0, inside) - 0.5).long()) * width + (px.index_select(0, inside) - 0.5).long()
    zbuf = torch.full((B * height * width,), float("inf"), dtype=dt, device=dev)
    zbuf.scatter_reduce_(0, pix, depth, reduce="amin")
    front = flat_nonzero(depth <= zbuf.index_select(0, pix))
    pix = pix.index_select(0, front)
    tri_id = owner.index_select(0, front) - b.index_select(0, front) * T
    tri_out.scatter_reduce_(0, pix, tri_id, reduce="amax")
    won = flat_nonzero(tri_id == tri_out.index_select(0, pix))
    win = front.index_select(0, won)
    w = torch.stack([w0.index_select(0, win), w1.index_select(0, win), w2.index_select(0, win)])
    bary_out.index_copy_(1, pix.index_select(0, won), w)
    return tri_out.view(B, height, width), bary_out.view(3, B, height, width).permute(1, 2, 3, 0)
