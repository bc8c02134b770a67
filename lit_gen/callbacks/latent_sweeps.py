"""DC-IGN evaluation at validation: disentanglement metrics, latent sweeps and inferred-vs-true scatter plots.

Every ``every_n_epochs`` validation epochs (and at the last one) on a fixed
held-out set (the first ``num_eval`` validation scenes) it logs
``val/spearman_azimuth``, ``val/spearman_elevation``, ``val/spearman_light``
(|rho| of the assigned latent; the baseline's best single latent),
``val/mig``, ``val/mig_extrinsic`` and, for ``scenes``, ``val/rerender_mse``
(+ ``_recon``, ``_unchanged``), and writes to ``<run>/images/``:

- ``sweep_<factor>.png``: one row per scene, its factor latent swept over
  the 2nd..98th percentile of the held-out latents, the others fixed;
- ``true_vs_inferred.png`` (rendered sources: scenes, faces): one held-out item, per factor a row of true
  renders with the factor swept and below it the decodes with its latent swept to the matching values;
- ``scatter.png``: inferred latent against the true factor, per factor.

The model needs ``encode``/``decode``/``to_image`` (the VAE family);
``assigned_latents()`` (DC-IGN) gives the scored latents, else the best
single latent per factor is used. Data without factors: it does nothing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import lightning as L
import numpy as np
import torch

from lit_gen.callbacks.grid import make_grid, save_png
from lit_gen.callbacks.images import log_image_to_loggers
from lit_gen.metrics.disentanglement import decode_images, evaluate_disentanglement
from lit_gen.callbacks.schedule import epoch_due


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


def write_pictures(model, res: dict, factor_names, out_dir, trainer: Optional[L.Trainer] = None, prefix: str = "") -> list:
    """Sweep grids per extrinsic factor and the scatter figure as PNGs under ``out_dir``; paths written."""
    out_dir = Path(out_dir)
    step = trainer.global_step if trainer is not None else 0
    paths = []
    for name, d in res["chosen"].items():
        grid = make_grid(sweep_grid(model, res["latents"], res["images"], d), nrow=11)
        paths.append(save_png(grid, out_dir / f"{prefix}sweep_{name}.png", scale=2))
        if trainer is not None:
            log_image_to_loggers(trainer, f"images/sweep_{name}", grid, step)
    pairs = true_vs_inferred_sweeps(model, res, factor_names)
    if pairs is not None:
        grid = make_grid(pairs, nrow=9)
        paths.append(save_png(grid, out_dir / f"{prefix}true_vs_inferred.png", scale=2))
        if trainer is not None:
            log_image_to_loggers(trainer, "images/true_vs_inferred", grid, step)
    if res["chosen"]:
        arr = scatter_figure(res["latents"], res["factors"], factor_names, res["chosen"], res["rho"])
        paths.append(save_png(arr, out_dir / f"{prefix}scatter.png"))
        if trainer is not None:
            log_image_to_loggers(trainer, "images/scatter", arr, step)
    return paths


class LatentSweepsCallback(L.Callback):
    def __init__(self, run_dir: str, datamodule, every_n_epochs: int = 1, num_eval: int = 1000, seed: int = 0,
                 factor_vae_votes: int = 90):
        self.dir = Path(run_dir) / "images"
        self.dm = datamodule
        self.every_n_epochs = every_n_epochs
        self.num_eval = num_eval
        self.seed = seed
        self.factor_vae_votes = factor_vae_votes

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        dm = trainer.datamodule or self.dm
        if trainer.sanity_checking or not epoch_due(trainer, self.every_n_epochs) or dm is None or not hasattr(pl_module, "encode"):
            return
        info = dm.info
        if "factors" not in info.keys or not scored_factors(info) or len(dm.splits.val) == 0:
            return
        # every rank computes the same numbers on the same held-out scenes: no collective needed
        res = run_evaluation(pl_module, dm.splits.val, dm.cfg, info, self.num_eval, self.seed, self.factor_vae_votes)
        for key, value in res["metrics"].items():
            pl_module.log(f"val/{key}", float(value), on_step=False, on_epoch=True, sync_dist=True)
        if trainer.is_global_zero:
            write_pictures(pl_module, res, info.factor_names, self.dir, trainer)


def latent_sweep_callbacks(run_dir: str, cfg, datamodule) -> list:
    """The VAE family's disentanglement evaluation (DC-IGN, β-TCVAE, Ada-GVAE, the VAE), attached through the
    registry; it does nothing on data without factors."""
    if not cfg.metrics.disentanglement_items:
        return []
    return [LatentSweepsCallback(run_dir, datamodule, every_n_epochs=cfg.metrics.every_n_epochs,
                                 num_eval=cfg.metrics.disentanglement_items, seed=cfg.seed,
                                 factor_vae_votes=cfg.metrics.factor_vae_votes)]
