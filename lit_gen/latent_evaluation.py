"""How a model's latent code follows the data's factors: the disentanglement numbers and their pictures, for the
``disentangle`` CLI and the latent-sweeps callback alike.

On a fixed held-out set (the first ``n`` items of a split) :func:`run_evaluation` gives per-factor |Spearman rho|
of the assigned latent (DC-IGN's ``assigned_latents()``) or of the best single latent, MIG, the FactorVAE score
and, for rendered sources (scenes, faces), the re-rendering MSEs (:mod:`lit_gen.metrics.disentanglement`).
:func:`write_pictures` writes:

- ``sweep_<factor>.png``: one row per item, its factor latent swept over the 2nd..98th percentile of the held-out
  latents, the others fixed;
- ``true_vs_inferred.png`` (rendered sources: scenes, faces): one held-out item, per factor a row of true renders
  with the factor swept and below it the decodes with its latent swept to the matching values;
- ``scatter.png``: inferred latent against the true factor, per factor.

The model needs ``encode``/``decode``/``to_image`` (the VAE family).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from lit_gen.image_grid import make_grid, save_png
from lit_gen.metrics.disentanglement import decode_images, evaluate_disentanglement


ANGLES = ("azimuth", "elevation", "light", "orientation")  # factors stored in radians, plotted in degrees


def render_tools(data_cfg, info) -> dict:
    """Renderer, factor ranges and discrete factors of a rendered source (scenes, faces); else none."""
    from lit_gen.data.renderers import factor_renderer

    rend = factor_renderer(data_cfg, info.name)
    if rend is None:
        return {"render": None, "ranges": None, "discrete": (), "vary": None}
    return {"render": lambda f: rend.render(f)[0], "ranges": dict(rend.factor_ranges), "discrete": rend.discrete,
            "vary": rend.vary}


def scored_factors(info) -> tuple:
    """The factors with a group of their own (not intrinsic): scenes and faces azimuth, elevation, light."""
    from lit_gen.data.factor_batches import default_groups

    groups = dict(info.factor_groups) or default_groups(info.factor_names)
    return tuple(names[0] for g, names in groups.items() if g != "intrinsic" and len(names) == 1)


def eval_set(dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` items' images and factors."""
    n = min(n, len(dataset))
    tensors = getattr(dataset, "tensors", None)
    if tensors is not None and getattr(dataset, "transform", None) is None:
        img = tensors["image"][:n]
        img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
        return img, tensors["factors"][:n].float()
    from lit_gen.data.factor_batches import fetch

    items = fetch(dataset, list(range(n)))
    return torch.stack([it["image"] for it in items]), torch.stack([it["factors"].float() for it in items])


def run_evaluation(model, dataset, data_cfg, info, n: int = 1000, seed: int = 0, factor_vae_votes: int = 90) -> dict:
    """``evaluate_disentanglement`` on the first ``n`` items of ``dataset`` (plus the eval tensors)."""
    images, factors = eval_set(dataset, n)
    tools = render_tools(data_cfg, info)
    assigned = model.assigned_latents() if hasattr(model, "assigned_latents") else None
    res = evaluate_disentanglement(model, images, factors, info.factor_names, discrete=tools["discrete"],
                                   assigned=assigned, render=tools["render"], factor_ranges=tools["ranges"],
                                   vary=tools["vary"], factor_vae_votes=factor_vae_votes, seed=seed,
                                   scored=scored_factors(info))
    res["images"], res["factors"], res["tools"] = images, factors, tools
    return res


@torch.no_grad()
def sweep_grid(model, latents: torch.Tensor, images: torch.Tensor, latent: int, rows: int = 6, steps: int = 10) -> torch.Tensor:
    """(rows * (steps + 1)) images: per row the input, then its decode with ``latent`` swept over its range."""
    lo, hi = torch.quantile(latents[:, latent], torch.tensor([0.02, 0.98])).tolist()
    values = torch.linspace(lo, hi, steps)
    z = latents[:rows].unsqueeze(1).repeat(1, steps, 1)  # (rows, steps, D)
    z[:, :, latent] = values
    dec = decode_images(model, z.reshape(-1, z.shape[-1])).view(rows, steps, *images.shape[1:])
    return torch.cat([images[:rows].unsqueeze(1), dec], dim=1).reshape(-1, *images.shape[1:])


@torch.no_grad()
def true_vs_inferred_sweeps(model, res: dict, factor_names, item: int = 0, steps: int = 9) -> Optional[torch.Tensor]:
    """The paper's re-render figure for one held-out item: per factor, a row of true renders with that factor
    swept over its range, and below it the item's code decoded with the factor's latent set to the value that
    matches (a least-squares line of the latent on the factor over the held-out set). None without a renderer."""
    tools = res.get("tools") or {}
    render, ranges = tools.get("render"), tools.get("ranges") or {}
    names = [n for n in res["chosen"] if n in ranges]
    if render is None or not names:
        return None
    rows = []
    for name in names:
        k, d = list(factor_names).index(name), res["chosen"][name]
        values = torch.linspace(*ranges[name], steps)
        f = res["factors"][item : item + 1].repeat(steps, 1)
        f[:, k] = values
        x, zd = res["factors"][:, k].double(), res["latents"][:, d].double()
        slope = ((x - x.mean()) * (zd - zd.mean())).sum() / (x - x.mean()).pow(2).sum().clamp(min=1e-12)
        z = res["latents"][item : item + 1].repeat(steps, 1)
        z[:, d] = (zd.mean() + slope * (values.double() - x.mean())).float()
        rows += [render(f).float().cpu(), decode_images(model, z)]
    return torch.cat(rows)


def scatter_figure(latents: torch.Tensor, factors: torch.Tensor, factor_names, chosen: dict, rho: np.ndarray) -> np.ndarray:
    """Inferred latent vs true factor (angles in degrees), one panel per factor, as an (H, W, 3) uint8 array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(chosen)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), dpi=80, squeeze=False)
    for ax, name in zip(axes[0], names):
        k, d = list(factor_names).index(name), chosen[name]
        angle = name in ANGLES
        ax.scatter(factors[:, k].numpy() * (180.0 / math.pi if angle else 1.0), latents[:, d].numpy(), s=3, alpha=0.5)
        ax.set_xlabel(f"true {name}" + (" (deg)" if angle else ""))
        ax.set_ylabel(f"z{d} (posterior mean)")
        ax.set_title(f"{name}: |rho| = {rho[d, k]:.3f}", fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()
    arr = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return arr


def write_pictures(model, res: dict, factor_names, out_dir, prefix: str = "",
                   log: Optional[Callable[[str, np.ndarray], None]] = None) -> list:
    """Sweep grids per extrinsic factor, the true-vs-inferred rows and the scatter figure as PNGs under ``out_dir``;
    the paths written. ``log(key, array)``: also hand each picture to a logger (the callback's dashboards)."""
    out_dir = Path(out_dir)
    log = log or (lambda key, array: None)
    paths = []
    for name, d in res["chosen"].items():
        grid = make_grid(sweep_grid(model, res["latents"], res["images"], d), nrow=11)
        paths.append(save_png(grid, out_dir / f"{prefix}sweep_{name}.png", scale=2))
        log(f"images/sweep_{name}", grid)
    pairs = true_vs_inferred_sweeps(model, res, factor_names)
    if pairs is not None:
        grid = make_grid(pairs, nrow=9)
        paths.append(save_png(grid, out_dir / f"{prefix}true_vs_inferred.png", scale=2))
        log("images/true_vs_inferred", grid)
    if res["chosen"]:
        arr = scatter_figure(res["latents"], res["factors"], factor_names, res["chosen"], res["rho"])
        paths.append(save_png(arr, out_dir / f"{prefix}scatter.png"))
        log("images/scatter", arr)
    return paths
