"""A triangle rasterizer with a z-buffer, in torch, vectorised over the batch.

Work is proportional to the triangles plus the pixel centres inside their
bounding boxes, not to triangles x pixels: each triangle lists the pixel
centres of its box (``repeat_interleave`` over per-triangle counts), keeps
those its three edge functions accept, and the z-buffer keeps the nearest
fragment per pixel (``scatter_reduce`` "amin"; ties go to the higher triangle
index, so the result does not depend on the order of the fragments). At
32-128 px a face mesh's triangles cover a pixel or less, so this stays close
to one fragment per covered pixel. Gathers use ``index_select`` on packed
per-triangle rows: advanced indexing was most of the time.

Coverage is inclusive (a centre on an edge belongs to both triangles, with a
small tolerance), so shared edges leave no holes; both windings are drawn
(two-sided), so a mesh seen from behind has no holes either.

Conventions: screen x to the right and y down, in pixels; pixel (i, j) has
its centre at (j + 0.5, i + 0.5). Depth: smaller is nearer.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

EDGE_EPS = 1e-6  # tolerance of the inside test, on barycentric weights


def rasterize(screen: Tensor, triangles: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Visible triangle and barycentric weights per pixel.

    ``screen``: (B, V, 3) vertex positions (x px, y px, depth); ``triangles``:
    (T, 3) long vertex indices. Returns ``tri`` (B, H, W) long, the visible
    triangle (-1: background), and ``bary`` (B, H, W, 3), its barycentric
    weights at the pixel centre (0 on the background).
    """
    B, V = screen.shape[:2]
    T = triangles.shape[0]
    dev, dt = screen.device, screen.dtype
    flat = (triangles.reshape(1, -1) + V * torch.arange(B, device=dev).unsqueeze(1)).reshape(-1)
    v = screen.reshape(B * V, 3).index_select(0, flat).view(B * T, 3, 3)  # (triangle, corner, coord)
    x, y = v[:, :, 0], v[:, :, 1]
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    # pixel-centre index ranges of each box, clipped to the image
    x0 = torch.ceil(x.amin(1) - 0.5).clamp_(min=0)
    y0 = torch.ceil(y.amin(1) - 0.5).clamp_(min=0)
    nx = (torch.floor(x.amax(1) - 0.5).clamp_(max=width - 1) - x0 + 1).clamp_(min=0)
    ny = (torch.floor(y.amax(1) - 0.5).clamp_(max=height - 1) - y0 + 1).clamp_(min=0)
    count = (nx * ny).long() * (area.abs() > 1e-12)
    keep = count.nonzero().squeeze(1)
    tri_out = torch.full((B * height * width,), -1, dtype=torch.long, device=dev)
    bary_out = torch.zeros(B * height * width, 3, dtype=dt, device=dev)
    if keep.numel() == 0:
        return tri_out.view(B, height, width), bary_out.view(B, height, width, 3)
    counts = count.index_select(0, keep)
    start = torch.cumsum(counts, 0) - counts
    # one packed row per kept triangle: corners (9), area, box origin, box width, start, its flat index
    rows = torch.cat([v.index_select(0, keep).reshape(-1, 9), torch.stack(
        [area, x0, y0, nx], 1).index_select(0, keep), start.unsqueeze(1).to(dt), keep.unsqueeze(1).to(dt)], 1)
    local = torch.repeat_interleave(torch.arange(len(keep), device=dev), counts)
    r = rows.index_select(0, local)
    offset = torch.arange(len(local), device=dev, dtype=dt) - r[:, 13]
    dy = torch.div(offset, r[:, 12], rounding_mode="floor")
    px = r[:, 10] + (offset - dy * r[:, 12]) + 0.5
    py = r[:, 11] + dy + 0.5
    X0, X1, X2, Y0, Y1, Y2 = r[:, 0], r[:, 3], r[:, 6], r[:, 1], r[:, 4], r[:, 7]
    # edge functions: w_i is the doubled area opposite corner i, so w / area are the barycentric weights
    w0 = ((X2 - X1) * (py - Y1) - (Y2 - Y1) * (px - X1)) / r[:, 9]
    w1 = ((X0 - X2) * (py - Y2) - (Y0 - Y2) * (px - X2)) / r[:, 9]
    w2 = 1.0 - w0 - w1
    inside = ((w0 >= -EDGE_EPS) & (w1 >= -EDGE_EPS) & (w2 >= -EDGE_EPS)).nonzero().squeeze(1)
    w = torch.stack([w0, w1, w2], 1).index_select(0, inside)
    r = r.index_select(0, inside)
    depth = (w * r[:, [2, 5, 8]]).sum(1)
    owner = r[:, 14].long()
    b = torch.div(owner, T, rounding_mode="floor")
    pix = (b * height + (py.index_select(0, inside) - 0.5).long()) * width + (px.index_select(0, inside) - 0.5).long()
    zbuf = torch.full((B * height * width,), float("inf"), dtype=dt, device=dev)
    zbuf.scatter_reduce_(0, pix, depth, reduce="amin")
    front = (depth <= zbuf.index_select(0, pix)).nonzero().squeeze(1)
    pix, w = pix.index_select(0, front), w.index_select(0, front)
    tri_id = owner.index_select(0, front) - b.index_select(0, front) * T
    tri_out.scatter_reduce_(0, pix, tri_id, reduce="amax")
    win = (tri_id == tri_out.index_select(0, pix)).nonzero().squeeze(1)
    bary_out.index_copy_(0, pix.index_select(0, win), w.index_select(0, win))
    return tri_out.view(B, height, width), bary_out.view(B, height, width, 3)
