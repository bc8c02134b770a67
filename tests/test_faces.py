"""The faces source: the rasterizer against hand-computed cases, the renderer's factors, the splits, the one-line
errors, and DC-IGN / VAE / GAN smoke runs on faces (these need eos-py and the Surrey Face Model; they skip with
the reason when either is absent)."""

import json
import math
import sys
import warnings

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import helpers
from helpers import in_process
from lit_gen.config.schema import DataConfig
from lit_gen.data.faces import kernel
from lit_gen.data.faces.raster import rasterize_torch
from lit_gen.errors import UserError

SMALL = {"num_train": 48, "num_val": 16, "num_test": 16, "train_identities": 12, "val_identities": 8,
         "test_identities": 16, "identity_dims": 6}


def _cfg(root, size=32, **faces):
    cfg = OmegaConf.structured(DataConfig(name="faces", root=str(root), image_size=size))
    for k, v in {**SMALL, **faces}.items():
        cfg.faces[k] = v
    return cfg


def _renderer(root, size=32, **faces):
    from lit_gen.data.sources import faces as source

    return source.renderer(_cfg(root, size, **faces))


# ----------------------------------------------------------------------------- rasterizer (no model file needed)


def _compiled(screen, tri, height, width):
    lib = kernel.compiled_kernel()
    if lib is None:
        pytest.skip("the compiled kernels did not build here (no C compiler?); the torch rasterizer is tested")
    return kernel.rasterize_compiled(lib, screen, tri, height, width)


@pytest.fixture(params=["torch", "compiled"])
def rasterize(request):
    """Each hand-computed case runs through both rasterizers: the torch code and the compiled kernel."""
    return {"torch": rasterize_torch, "compiled": _compiled}[request.param]


def _screen(*tris):
    """(1, 3k, 3) vertices and (k, 3) triangles for triangles given as ((x, y, depth), ...) corners."""
    verts = torch.tensor([c for t in tris for c in t], dtype=torch.float32).unsqueeze(0)
    return verts, torch.arange(3 * len(tris)).view(-1, 3)


def test_one_triangle_covers_exactly_the_pixel_centres_inside_it(rasterize):
    # corners (0, 0), (4, 0), (0, 4): the centre (j + .5, i + .5) is inside iff i + j <= 3
    verts, tri = _screen(((0, 0, 1), (4, 0, 1), (0, 4, 1)))
    ids, bary = rasterize(verts, tri, 4, 4)
    expected = torch.tensor([[i + j <= 3 for j in range(4)] for i in range(4)])
    assert torch.equal(ids[0] >= 0, expected)
    assert torch.allclose(bary[0][expected].sum(1), torch.ones(int(expected.sum())))
    # pixel (0, 0), centre (0.5, 0.5): weights of the corners (0,0), (4,0), (0,4) are 3/4, 1/8, 1/8
    assert torch.allclose(bary[0, 0, 0], torch.tensor([0.75, 0.125, 0.125]))
    assert (bary[0][~expected] == 0).all()


def test_z_buffer_keeps_the_nearer_triangle_whatever_the_order(rasterize):
    big = ((0, 0, 5), (8, 0, 5), (0, 8, 5))  # far, covers the top-left half
    small = ((0, 0, 1), (4, 0, 1), (0, 4, 1))  # near, inside it
    for order in ((big, small), (small, big)):
        verts, tri = _screen(*order)
        ids, _ = rasterize(verts, tri, 8, 8)
        near = order.index(small)
        inside_small = torch.tensor([[i + j <= 3 for j in range(8)] for i in range(8)])
        inside_big = torch.tensor([[i + j <= 7 for j in range(8)] for i in range(8)])
        assert (ids[0][inside_small] == near).all()
        assert (ids[0][inside_big & ~inside_small] == 1 - near).all()
        assert (ids[0][~inside_big] == -1).all()


def test_shared_edges_leave_no_holes(rasterize):
    # a rotated square split along its diagonal, both windings: every centre inside the square is covered
    a = math.radians(17.0)
    c, s = math.cos(a), math.sin(a)
    corners = [(8 + 6 * (c * x - s * y), 8 + 6 * (s * x + c * y), 0.0) for x, y in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    verts, tri = _screen((corners[0], corners[1], corners[2]), (corners[0], corners[3], corners[2]))
    ids, _ = rasterize(verts, tri, 16, 16)
    yy, xx = torch.meshgrid(torch.arange(16) + 0.5, torch.arange(16) + 0.5, indexing="ij")
    u = c * (xx - 8) + s * (yy - 8)
    v = -s * (xx - 8) + c * (yy - 8)
    inside = (u.abs() < 5.99) & (v.abs() < 5.99)
    assert (ids[0][inside] >= 0).all()
    assert (ids[0][(u.abs() > 6.01) | (v.abs() > 6.01)] == -1).all()


def _brute_force(screen, tri, height, width):
    """Every triangle against every pixel centre: the nearest inside triangle (ties: the higher index)."""
    yy, xx = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    out = torch.full((screen.shape[0], height, width), -1)
    for b in range(screen.shape[0]):
        best = torch.full((height, width), float("inf"))
        for t, (i, j, k) in enumerate(tri.tolist()):
            (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = screen[b, i].tolist(), screen[b, j].tolist(), screen[b, k].tolist()
            area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
            if abs(area) <= 1e-12:
                continue
            w0 = ((x2 - x1) * (yy - y1) - (y2 - y1) * (xx - x1)) / area
            w1 = ((x0 - x2) * (yy - y2) - (y0 - y2) * (xx - x2)) / area
            w2 = 1 - w0 - w1
            depth = w0 * z0 + w1 * z1 + w2 * z2
            hit = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6) & (depth <= best)
            best = torch.where(hit, depth, best)
            out[b][hit] = t
    return out


def test_rasterizer_matches_every_triangle_against_every_pixel(rasterize):
    # random meshes of triangles from sub-pixel to larger than the image, partly off screen, both windings
    g = torch.Generator().manual_seed(0)
    for trial in range(4):
        centre = torch.rand(2, 40, 1, 3, generator=g) * torch.tensor([28.0, 28.0, 10.0]) - torch.tensor([2.0, 2.0, 0.0])
        spread = 0.5 + 6.0 * torch.rand(2, 40, 1, 1, generator=g) ** 2
        screen = (centre + spread * torch.randn(2, 40, 3, 3, generator=g) * torch.tensor([1.0, 1.0, 0.2])).view(2, 120, 3)
        tri = torch.arange(120).view(40, 3)
        ids, bary = rasterize(screen, tri, 24, 24)
        assert torch.equal(ids, _brute_force(screen, tri, 24, 24)), trial
        hit = ids >= 0
        assert torch.allclose(bary[hit].sum(1), torch.ones(int(hit.sum())), atol=1e-5)
        assert (bary[~hit] == 0).all()


def test_compiled_rasterizer_gives_torchs_triangles_and_weights_bit_for_bit():
    # many sub-pixel triangles (a face mesh's case), some boxes of 2 x 2 and larger, off-screen ones, and exact
    # depth ties (duplicated triangles: the higher index wins in both)
    g = torch.Generator().manual_seed(1)
    for size, n, spread in ((32, 3000, 0.6), (64, 2000, 1.5), (48, 200, 8.0)):
        centre = torch.rand(3, n, 1, 3, generator=g) * torch.tensor([size + 4.0, size + 4.0, 10.0]) - 2.0
        screen = (centre + spread * torch.randn(3, n, 3, 3, generator=g)).view(3, 3 * n, 3)
        tri = torch.arange(3 * n).view(n, 3)
        tri = torch.cat([tri, tri[: n // 10]])
        want, got = rasterize_torch(screen, tri, size, size), _compiled(screen, tri, size, size)
        assert torch.equal(got[0], want[0]) and (got[0] >= n).any()
        assert torch.equal(got[1], want[1])


def _fresh_kernel_state(monkeypatch):
    """As if no kernel had been tried in this process; the test's end restores the loaded one for the others."""
    monkeypatch.setattr(kernel, "_lib", None)
    monkeypatch.setattr(kernel, "_tried", False)


def test_without_a_compiler_the_renderer_says_so_once_and_uses_torch(monkeypatch, tmp_path):
    _fresh_kernel_state(monkeypatch)
    monkeypatch.setenv("LIT_GEN_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "/bin/false")  # a compiler that fails
    with pytest.warns(UserWarning, match="could not build raster_kernel.c .*uses its torch code"):
        assert kernel.compiled_kernel() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not on every batch
        assert kernel.compiled_kernel() is None
    monkeypatch.setattr(kernel, "_tried", False)
    monkeypatch.delenv("CC")
    monkeypatch.setattr(kernel.shutil, "which", lambda name: None)
    with pytest.warns(UserWarning, match="no C compiler"):
        assert kernel.compiled_kernel() is None


def test_the_kernel_is_built_once_into_the_cache_and_can_be_turned_off(monkeypatch, tmp_path):
    _fresh_kernel_state(monkeypatch)
    monkeypatch.setenv("LIT_GEN_CACHE", str(tmp_path))
    if kernel.compiled_kernel() is None:
        pytest.skip("no C compiler here")
    built = list(tmp_path.glob("raster_kernel-*.so"))
    assert len(built) == 1 and not [p for p in tmp_path.iterdir() if p not in built]  # no temporary file left
    monkeypatch.setenv("LIT_GEN_FACES_KERNEL", "torch")
    assert kernel.compiled_kernel() is None


# ----------------------------------------------------------------------------- renderer


def test_faces_have_no_holes_and_stay_centred_at_extreme_poses(face_root):
    from scipy.ndimage import binary_fill_holes

    for size in (32, 64, 128):
        r = _renderer(face_root, size)
        ext = torch.tensor([[a, e, 0.0] for a in (-75, 0, 75) for e in (-30, 0, 30)]) * math.pi / 180
        f = torch.cat([ext, torch.zeros(len(ext), r.k)], 1)
        img, mask = r.render(f)
        assert img.shape == (9, 1, size, size) and mask.shape == (9, 1, size, size)
        for m in mask[:, 0].numpy().astype(bool):
            assert np.array_equal(binary_fill_holes(m), m), size  # no holes inside the silhouette
            assert 0.25 < m.mean() < 0.8, m.mean()  # the face fills most of the frame
            ys, xs = np.nonzero(m)
            # the silhouette's box stays inside the frame and about its centre
            assert ys.min() > 0 and xs.min() > 0 and ys.max() < size - 1 and xs.max() < size - 1
            assert abs((xs.min() + xs.max()) / 2 - size / 2) < 0.2 * size


def _pinned_factors():
    f = torch.zeros(4, 3 + SMALL["identity_dims"])
    f[:, :3] = torch.tensor([[0, 0, 0], [60, -20, 45], [-70, 25, -80], [30, 10, 0]]) * math.pi / 180
    f[:, 3:] = torch.tensor([[0.0] * 6, [1, -1, 0.5, 0, 0, 2], [-2, 0.5, 1, 1, -1, 0], [0.3, 0.3, -0.3, 2, 0, -1]])
    return f


@pytest.mark.parametrize("size,channels,specular,image_sums,mask_sums", [
    (32, 1, 0.0, [313.432, 255.24, 114.141, 297.306], [497, 396, 224, 464]),
    (64, 3, 0.3, [3529.125, 2997.812, 1321.302, 3417.71], [1956, 1583, 902, 1864]),
])
def test_renders_are_the_same_as_before_the_speed_work(face_root, size, channels, specular, image_sums, mask_sums):
    # the sums were printed by the renderer of commit 574ec5f (before the planar shading and numpy indices)
    from lit_gen.data.faces.renderer import FaceRenderer

    r = FaceRenderer(_renderer(face_root).model, size, channels, SMALL["identity_dims"], specular=specular)
    img, mask = r.render(_pinned_factors())
    assert torch.allclose(img.sum((1, 2, 3)), torch.tensor(image_sums), rtol=1e-5, atol=2e-3)
    assert mask.sum((1, 2, 3)).tolist() == mask_sums


@pytest.mark.parametrize("size,channels,specular", [(32, 1, 0.0), (64, 3, 0.0), (64, 1, 0.3)])
def test_compiled_renderer_draws_the_torch_renderers_images(face_root, size, channels, specular, monkeypatch):
    # every batch kind DC-IGN draws (one face at many views, one view under many lights, many faces at one view),
    # random faces, and the specular term (torch shading over the compiled rasterizer)
    from lit_gen.data.faces.renderer import FaceRenderer, truncated_normal

    if kernel.compiled_kernel() is None:
        pytest.skip("the compiled kernels did not build here (no C compiler?)")
    r = FaceRenderer(_renderer(face_root).model, size, channels, SMALL["identity_dims"], specular=specular)
    g = torch.Generator().manual_seed(size)
    f = torch.cat([r.sample_extrinsic(12, g), truncated_normal(12, r.k, g)], 1)
    batches = {"pose": torch.cat([f[:, :3], f[:1, 3:].expand(12, -1)], 1),
               "light": torch.cat([f[:1, :2].expand(12, -1), f[:, 2:]], 1),
               "identity": torch.cat([f[:1, :3].expand(12, -1), f[:, 3:]], 1), "random": f}
    for kind, fk in batches.items():
        img, mask = r.render(fk)
        monkeypatch.setenv("LIT_GEN_FACES_KERNEL", "torch")
        want_img, want_mask = r.render(fk)
        monkeypatch.delenv("LIT_GEN_FACES_KERNEL")
        assert torch.equal(mask, want_mask), kind
        # torch's float32 sqrt is not correctly rounded, the C library's is, and torch's vectorised math differs by
        # CPU: up to 2.4e-7 on an AMD EPYC, 3.9e-6 on an Intel Xeon (specular); a 1e-4 shading change still fails
        assert (img - want_img).abs().max() <= 1e-5, kind
        assert (img > 0).sum() > 0.2 * img.numel() / channels, kind


def test_coarse_mesh_keeps_model_vertices_the_frame_and_a_hole_free_silhouette(face_root):
    from scipy.ndimage import binary_fill_holes

    full = _renderer(face_root, 32)
    coarse = _renderer(face_root, 32, mesh_cell=1.0)
    assert len(coarse.model.triangles) < len(full.model.triangles) / 2
    # kept vertices are model vertices: each coarse mean vertex is a full one, and the frame is the full mesh's
    same = (coarse.model.mean[:, None] == full.model.mean[None]).all(2).any(1)
    assert same.all()
    assert torch.equal(coarse.pivot, full.pivot) and coarse.scale == full.scale
    tri = coarse.model.triangles
    assert int(tri.max()) < len(coarse.model.mean) + len(coarse.model.cap_rims)
    assert ((tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])).all()
    ext = torch.tensor([[a, e, 0.0] for a in (-75, 0, 75) for e in (-30, 0, 30)]) * math.pi / 180
    f = torch.cat([ext, torch.zeros(len(ext), coarse.k)], 1)
    (img_c, mask_c), (img_f, mask_f) = coarse.render(f), full.render(f)
    for mc, mf in zip(mask_c[:, 0].numpy().astype(bool), mask_f[:, 0].numpy().astype(bool)):
        assert np.array_equal(binary_fill_holes(mc), mc)
        assert (mc & mf).sum() / (mc | mf).sum() > 0.9  # the same face, drawn coarser
    assert (img_c - img_f).abs().mean() < 0.03


def test_rgb_and_grey(face_root):
    from lit_gen.data.faces.renderer import FaceRenderer

    model = _renderer(face_root).model
    f = torch.zeros(1, 3 + SMALL["identity_dims"])
    grey, _ = FaceRenderer(model, 32, 1, SMALL["identity_dims"]).render(f)
    rgb, _ = FaceRenderer(model, 32, 3, SMALL["identity_dims"]).render(f)
    assert grey.shape == (1, 1, 32, 32) and rgb.shape == (1, 3, 32, 32)
    assert not torch.equal(rgb[:, 0], rgb[:, 2])  # a skin tone, not grey


def test_each_factor_changes_the_image_and_nothing_else_does(face_root):
    r = _renderer(face_root, 32, expressions=True)
    g = torch.Generator().manual_seed(0)
    base = r.vary(torch.zeros(r.num_factors), r.factor_names, 1, g)[0]
    img = r.render(base[None])[0][0]
    for j, name in enumerate(r.factor_names):
        f = base.clone()
        f[j] = f[j] + (0.4 if j < 3 else 1.5)
        assert not torch.equal(r.render(f[None])[0][0], img), name
    # the image is a function of the factors alone: not of the rest of the batch, its order or a generator
    others = r.vary(base, r.factor_names, 5, g)
    batch = torch.cat([others[:2], base[None], others[2:]])
    assert torch.equal(r.render(batch)[0][2], img)
    assert torch.equal(r.render(base[None], torch.Generator().manual_seed(7))[0][0], img)


def test_light_only_changes_shading_not_the_silhouette(face_root):
    r = _renderer(face_root, 32)
    f = torch.zeros(2, r.num_factors)
    f[1, 2] = 1.2
    img, mask = r.render(f)
    assert torch.equal(mask[0], mask[1]) and not torch.equal(img[0], img[1])


def test_source_is_deterministic_with_disjoint_identities(face_root):
    from lit_gen.data.sources import faces as source

    a, b = source.build(_cfg(face_root)), source.build(_cfg(face_root))
    for split in ("train", "val", "test"):
        ta, tb = getattr(a, split).tensors, getattr(b, split).tensors
        assert all(torch.equal(ta[k], tb[k]) for k in ta), split
    k = SMALL["identity_dims"]
    ids = {s: {tuple(row.tolist()) for row in getattr(a, s).tensors["factors"][:, 3 : 3 + k]} for s in ("train", "val", "test")}
    assert [len(ids[s]) for s in ("train", "val", "test")] == [12, 8, 16]
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    item = a.train[0]
    assert item["image"].shape == (1, 32, 32) and item["factors"].shape == (3 + k,) and item["mask"].dtype == torch.float32
    # a stored item is exactly the render of its factors
    r = source.renderer(_cfg(face_root))
    again = r.render(item["factors"][None])[0][0]
    assert torch.equal((again * 255).round().to(torch.uint8), a.train.tensors["image"][0])


def test_factor_batches_vary_one_group_and_draw_training_identities(face_root):
    from lit_gen.data.factor_batches import FactorBatches, build_varier
    from lit_gen.data.sources import faces as source

    cfg = _cfg(face_root)
    splits = source.build(cfg)
    v = build_varier(splits, cfg)
    assert tuple(v.groups) == ("azimuth", "elevation", "light", "intrinsic")
    train_ids = {tuple(row.tolist()) for row in source.identities(cfg, "train")}
    fb = FactorBatches(v, batch_size=6, odds=[1, 1, 1, 1], seed=0, batches_per_epoch=16)
    seen = set()
    for batch in fb:
        group = fb.groups[int(batch["varied"][0])]
        seen.add(group)
        f = batch["factors"]
        cols = {"azimuth": [0], "elevation": [1], "light": [2]}.get(group, list(range(3, f.shape[1])))
        fixed = [j for j in range(f.shape[1]) if j not in cols]
        assert torch.equal(f[:, fixed], f[:1, fixed].expand(6, -1)), group
        assert (f[:, cols].std(0) > 0).any(), group
        assert {tuple(row.tolist()) for row in f[:, 3:]} <= train_ids  # val/test identities stay unseen
        assert torch.allclose(batch["image"], v.render(f), atol=1e-6)
    assert len(seen) == 4


# ----------------------------------------------------------------------------- errors


def test_missing_model_file_is_one_line(tmp_path):
    from lit_gen.data.sources import faces as source

    with pytest.raises(UserError) as e:
        source.build(_cfg(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "sfm" / "sfm_shape_3448.bin") in msg
    assert "eos" in msg and "non-commercial" in msg


def test_missing_model_file_on_the_cli_is_one_line_and_leaves_no_run_folder(tmp_path):
    runs = tmp_path / "runs"
    rc, _, err = in_process("fit", "--config", "configs/dcign_faces.yaml", f"data.root={tmp_path}", f"run.dir={runs}",
                            "logger.name=none")
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and "sfm_shape_3448.bin" in err
    assert not runs.exists()


def test_missing_eos_is_one_line_with_the_install_hint(face_root, monkeypatch):
    from lit_gen.data.faces import model

    model._load.cache_clear()
    monkeypatch.setitem(sys.modules, "eos", None)  # import eos now raises ImportError
    try:
        with pytest.raises(UserError) as e:
            model.load_face_model(face_root)
    finally:
        model._load.cache_clear()
    assert "\n" not in str(e.value) and 'pip install -e ".[faces]"' in str(e.value)


def test_bad_face_settings_are_one_line_errors(tmp_path):
    for arg, key in (("data.faces.azimuth=[-100,75]", "data.faces.azimuth"), ("data.faces.num_test=0", "data.faces.num_test"),
                     ("data.faces.ambient=2", "data.faces.ambient")):
        rc, _, err = in_process("fit", "--config", "configs/dcign_faces.yaml", arg, f"run.dir={tmp_path}",
                                "logger.name=none")
        assert rc == 2 and err.startswith("error: ") and key in err and err.count("\n") == 1, err


# ----------------------------------------------------------------------------- models on faces

# the small run profile on faces: few identities and images (this file's own SMALL sizes the source)
TINY = [*helpers.SMALL, "data.image_size=32", "data.batch_size=8", "data.faces.num_train=48",
        "data.faces.train_identities=12", "data.faces.num_val=16", "data.faces.val_identities=8",
        "data.faces.num_test=16", "data.faces.test_identities=16", "data.faces.identity_dims=6", "metrics.num_samples=8"]


def test_dcign_smoke_run_on_faces_and_disentangle(face_root, tmp_path):
    args = [*TINY, f"data.root={face_root}", "model.widths=[8,8]", "model.latent_dim=6", "metrics.every_n_epochs=1",
            "metrics.factor_vae_votes=9"]
    r = in_process("fit", "--config", "configs/dcign_faces.yaml", *args, f"run.dir={tmp_path}", "run.name=dcf")
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path / "dcf"
    final = json.loads((d / "final_metrics.json").read_text())
    for k in ("val/spearman_azimuth", "val/spearman_elevation", "val/spearman_light", "val/mig", "val/rerender_mse"):
        assert np.isfinite(final[k]), k
    for name in ("sweep_azimuth", "true_vs_inferred", "scatter"):
        assert (d / "images" / f"{name}.png").is_file(), name
    r = in_process("disentangle", "--ckpt", d / "checkpoints" / "last.ckpt", "--n", "16", "--images", tmp_path / "ev")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["n"] == 16 and out["latent_azimuth"] == 0 and out["clamp"] is True
    for k in ("rerender_pose_mse", "rerender_pose_mse_recon", "sweep_rho_elevation", "mig"):
        assert np.isfinite(out[k]), k
    for k in ("dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "factor_vae"):
        assert 0 <= out[k] <= 1, k
    assert (tmp_path / "ev" / "true_vs_inferred.png").is_file()


@pytest.mark.parametrize("config", ["configs/vae.yaml", "configs/gan.yaml"])
def test_vae_and_gan_train_on_faces(face_root, tmp_path, config):
    args = [*TINY, "data.name=faces", f"data.root={face_root}", f"run.dir={tmp_path}", "run.name=m"]
    r = in_process("fit", "--config", config, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "m" / "checkpoints" / "last.ckpt").is_file()
