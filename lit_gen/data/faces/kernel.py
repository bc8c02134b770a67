"""The faces renderer's compiled kernels (``raster_kernel.c``), built on first use with the machine's C compiler.

The rasterizer, the projection, the shapes, the vertex normals and the (non-specular) shading, each the float32
operations of the torch code it stands for, in the same order: the rasterizer's triangles and weights are the torch
rasterizer's bit for bit, the images the torch renderer's to 1e-6 (torch's float32 ``sqrt`` is not correctly
rounded; tests/test_faces.py compares both). Faster on the CPU (benchmarks/bench_faces.py): the torch code makes
~60 passes over 10^5-entry arrays per batch where a loop touches each triangle and pixel once. They need no
package, only a C compiler (``$CC``, else ``cc``); the library is built once into ``$LIT_GEN_CACHE`` (default
``~/.cache/lit_gen``), named by the source's hash. Without a compiler the renderer keeps its torch code and says so
once. ``LIT_GEN_FACES_KERNEL=torch`` asks for the torch code (the benchmark's baseline).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Optional

import torch

SOURCE = Path(__file__).with_name("raster_kernel.c")
# no fused multiply-adds and no fast-math: the same float32 operations as torch's, so the same results
FLAGS = ["-O3", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math"]
_lib: Optional[ctypes.CDLL] = None
_tried = False


def _cache_dir() -> Path:
    return Path(os.environ.get("LIT_GEN_CACHE") or Path.home() / ".cache" / "lit_gen")


def _fallback(why: str) -> None:
    warnings.warn(f"lit_gen faces: {why}, so the renderer uses its torch code (images equal to 1e-6, several times "
                  "slower)", stacklevel=4)


def _build() -> Optional[ctypes.CDLL]:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return _fallback("no C compiler (cc) found; install gcc or clang to speed it up")
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:16]
    lib = _cache_dir() / f"raster_kernel-{key}.so"
    try:
        if not lib.is_file():
            lib.parent.mkdir(parents=True, exist_ok=True)
            # built beside its final name and renamed into place: processes that build at once (DDP ranks, loader
            # workers) never load a half-written file
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=lib.parent)
            os.close(fd)
            try:
                r = subprocess.run([compiler, *FLAGS, "-o", tmp, str(SOURCE), "-lm"], capture_output=True, text=True)
                if r.returncode != 0:
                    why = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[0][:160]
                    return _fallback(f"{compiler} could not build {SOURCE.name} ({why})")
                os.replace(tmp, lib)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        handle = ctypes.CDLL(str(lib))
    except OSError as e:  # no compiler at $CC, an unwritable cache, a library that does not load
        return _fallback(f"the compiled kernels could not be built or loaded ({e})")
    i64, ptr, f32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_float
    for name, args in (("lit_gen_rasterize", [i64] * 5 + [ptr] * 5),
                       ("lit_gen_vertex_normals", [i64] * 3 + [ptr] * 6),
                       ("lit_gen_shapes", [i64] * 3 + [ptr] * 4),
                       ("lit_gen_project", [i64] * 2 + [ptr] * 3 + [f32] * 2 + [ptr]),
                       ("lit_gen_shade", [i64] * 7 + [ptr] * 9 + [f32] * 2 + [ptr] * 3)):
        fn = getattr(handle, name)
        fn.restype, fn.argtypes = None, args
    return handle


def compiled_kernel() -> Optional[ctypes.CDLL]:
    """The loaded library, or None (no compiler, a failed build, or ``LIT_GEN_FACES_KERNEL=torch``)."""
    global _lib, _tried
    if os.environ.get("LIT_GEN_FACES_KERNEL", "").lower() == "torch":
        return None
    if not _tried:
        _tried = True
        _lib = _build()
    return _lib


def kernel_for(t: torch.Tensor) -> Optional[ctypes.CDLL]:
    """The compiled kernels for work on float32 CPU tensors like ``t``, or None (another device or dtype: torch)."""
    return compiled_kernel() if t.device.type == "cpu" and t.dtype == torch.float32 else None


def rasterize_compiled(lib: ctypes.CDLL, screen: torch.Tensor, triangles: torch.Tensor, height: int,
                       width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``raster.rasterize`` on the CPU through the compiled kernel (float32 screen positions)."""
    B, V = screen.shape[:2]
    screen = screen.detach().to(torch.float32).contiguous()
    tris = triangles.to(torch.int64).contiguous()
    tri = torch.empty(B, height, width, dtype=torch.int64)
    bary = torch.empty(3, B, height, width, dtype=torch.float32)
    scratch = torch.empty(height * width + 19 * len(tris), dtype=torch.float32)
    lib.lit_gen_rasterize(B, V, len(tris), height, width, screen.data_ptr(), tris.data_ptr(), tri.data_ptr(),
                          bary.data_ptr(), scratch.data_ptr())
    return tri, bary.permute(1, 2, 3, 0)


def vertex_adjacency(triangles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(start (V + 1), tri): vertex i's triangles are ``tri[start[i]:start[i + 1]]``, in ``index_add_``'s order
    (those where it is corner 0, ascending, then corner 1, then corner 2) for :func:`vertex_normals_compiled`."""
    T = len(triangles)
    entries = torch.argsort(triangles.T.reshape(-1), stable=True)  # entry j * T + t, grouped by vertex
    counts = torch.bincount(triangles.T.reshape(-1), minlength=int(triangles.max()) + 1)
    start = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)])
    return start, (entries % T).to(torch.int32)


def vertex_normals_compiled(lib: ctypes.CDLL, verts: torch.Tensor, triangles: torch.Tensor,
                            adjacency: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """(3, F, V): the x, y, z planes of ``FaceRenderer.vertex_normals`` for (F, V, 3) float32 vertices;
    ``adjacency`` is :func:`vertex_adjacency` of ``triangles``."""
    verts = verts.contiguous()
    tris = triangles.to(torch.int64).contiguous()
    start, adj = adjacency
    F, V = verts.shape[:2]
    if len(start) != V + 1:  # a vertex no triangle uses, past the last one used
        start = torch.cat([start, start[-1:].expand(V + 1 - len(start))])
    out = torch.empty(3, F, V, dtype=torch.float32)
    scratch = torch.empty(3 * len(tris), dtype=torch.float32)
    lib.lit_gen_vertex_normals(F, V, len(tris), verts.data_ptr(), tris.data_ptr(), start.data_ptr(), adj.data_ptr(),
                               out.data_ptr(), scratch.data_ptr())
    return out


def shapes_compiled(lib: ctypes.CDLL, mean: torch.Tensor, coeffs: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(F, D): ``mean`` (D) + ``coeffs`` (F, K) @ ``basis`` (K, D), each row on its own (batch-independent)."""
    mean, coeffs, basis = (t.float().contiguous() for t in (mean.reshape(-1), coeffs, basis))
    out = torch.empty(len(coeffs), basis.shape[1], dtype=torch.float32)
    lib.lit_gen_shapes(len(coeffs), basis.shape[0], basis.shape[1], mean.data_ptr(), coeffs.data_ptr(),
                       basis.data_ptr(), out.data_ptr())
    return out


def project_compiled(lib: ctypes.CDLL, verts: torch.Tensor, vface: torch.Tensor, rot: torch.Tensor, size: int,
                     scale: float) -> torch.Tensor:
    """(views, V, 3) screen positions as ``FaceRenderer.render`` computes them: face ``vface[i]`` of the (F, V, 3)
    ``verts`` turned by ``rot[i]`` (3, 3), x and y in pixels of a ``size`` image, depth -z."""
    verts, rot = verts.contiguous(), rot.float().contiguous()
    vface = vface.to(torch.int64).contiguous()
    screen = torch.empty(len(vface), verts.shape[1], 3, dtype=torch.float32)
    lib.lit_gen_project(len(vface), verts.shape[1], verts.data_ptr(), vface.data_ptr(), rot.data_ptr(),
                        float(size / 2), float(scale), screen.data_ptr())
    return screen


def shade_compiled(lib: ctypes.CDLL, tri: torch.Tensor, bary: torch.Tensor, normals: torch.Tensor,
                   triangles: torch.Tensor, vface: torch.Tensor, toward: torch.Tensor, view_of: torch.Tensor,
                   light: torch.Tensor, albedo: torch.Tensor, ambient: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Lambert + ambient shading as ``FaceRenderer.render`` does it without a specular term: (images (N, C, H,
    W), masks (N, 1, H, W)). ``tri``/``bary`` from :func:`rasterize_compiled` (one per view), ``normals``
    (3, F, V) unit vertex normals, ``vface`` (views) each view's face, ``toward`` (views, 3) and ``light`` (N, 3)
    the viewer's and each image's light direction in the face's frame, ``view_of`` (N) each image's view."""
    views, H, W = tri.shape
    N, C = len(view_of), len(albedo)
    planes = bary.permute(3, 0, 1, 2).contiguous()
    keep = [t.contiguous() for t in (tri, normals, vface.to(torch.int64), toward.float(), view_of.to(torch.int64),
                                     light.float(), albedo.float(), triangles.to(torch.int64))]
    tri, normals, vface, toward, view_of, light, albedo, tris = keep
    images = torch.empty(N, C, H, W, dtype=torch.float32)
    masks = torch.empty(N, 1, H, W, dtype=torch.float32)
    scratch = torch.empty(3 * views * H * W, dtype=torch.float32)
    # the torch code's scalars are float32 in its arithmetic: the same casts here
    lib.lit_gen_shade(views, N, C, H, W, normals.shape[1], normals.shape[2], tris.data_ptr(), tri.data_ptr(),
                      planes.data_ptr(), normals.data_ptr(), vface.data_ptr(), toward.data_ptr(), view_of.data_ptr(),
                      light.data_ptr(), albedo.data_ptr(), float(ambient), float(1.0 - ambient), images.data_ptr(),
                      masks.data_ptr(), scratch.data_ptr())
    return images, masks
