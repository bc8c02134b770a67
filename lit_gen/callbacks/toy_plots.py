"""Toy densities at every validation: mode coverage, high-quality fraction, and the lecture's pictures.

Logged: ``val/modes_covered`` (of ``val/modes_total``) and ``val/hq_fraction`` on
``data.toy.eval_samples`` samples (see ``lit_gen.metrics.modes``); after fit, for
models with a likelihood, the test IW-NLL (``test/nll``, nats per point, a density).

Pictures (``<run>/images/toy_<kind>_epochNNN.png``, the latest at ``toy_<kind>.png``,
and through every logger that shows images, as the image grids are):

- 1-D (``toy_density``): the data density, the generated density (histogram and a
  Gaussian KDE) and, for a GAN, the discriminator's output D(x) on one plot;
- 2-D (``toy_scatter``): real and generated samples over the discriminator's
  decision surface.

Talks to the model through ``sample`` and, where present, ``critic`` (the GAN's D
in data space) and ``log_likelihood``.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only

from lit_gen.image_grid import save_png
from lit_gen.callbacks.images import log_image_to_loggers
from lit_gen.callbacks.schedule import epoch_due
from lit_gen.data.sources.toy import Mixture
from lit_gen.metrics.likelihood import iw_nll, supports_likelihood
from lit_gen.metrics.modes import HighQualityFraction, ModesCovered
from lit_gen.storage import copy_atomic


def _figure_array(fig) -> np.ndarray:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.canvas.draw()
    arr = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return arr


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _critic_label(model) -> str:
    loss = getattr(model, "loss_name", "")
    return "D(x) = P(real)" if loss in ("minimax", "nonsaturating") else f"critic D(x) ({loss})"


def kde(samples: np.ndarray, xs: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian KDE of 1-D ``samples`` at ``xs``.

    The bandwidth is given (the plot uses 1.5 histogram bins): Scott's rule takes the spread of the whole
    mixture and would smooth a GAN's too-narrow modes back to the data's width, hiding what the plot is for.
    """
    h = max(bandwidth, 1e-6)
    z = (xs[:, None] - samples[None, :]) / h
    return np.exp(-0.5 * z**2).sum(1) / (len(samples) * h * np.sqrt(2 * np.pi))


def density_figure(model, mixture: Mixture, samples: torch.Tensor, title: str = "") -> np.ndarray:
    """1-D: data density, generated density (histogram + KDE) and D(x), as an (H, W, 3) uint8 array."""
    plt = _pyplot()
    spread = 4 * float(mixture.stds.max())
    lo, hi = float(mixture.means.min()) - spread, float(mixture.means.max()) + spread
    xs = torch.linspace(lo, hi, 400)
    s = samples.detach().float().cpu().view(-1).numpy()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(xs.numpy(), mixture.log_prob(xs[:, None]).exp().numpy(), color="tab:blue", lw=2, label="data density p(x)")
    bins = np.linspace(lo, hi, 81)
    ax.hist(s, bins=bins, density=True, color="tab:green", alpha=0.35, label="generated (histogram)")
    ax.plot(xs.numpy(), kde(s, xs.numpy(), 1.5 * (bins[1] - bins[0])), color="tab:green", lw=2, label="generated (KDE)")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    lines, labels = ax.get_legend_handles_labels()
    if callable(getattr(model, "critic", None)):
        ax2 = ax.twinx()
        d = model.critic(xs[:, None]).float().cpu().numpy()
        lines += ax2.plot(xs.numpy(), d, color="tab:red", ls="--", lw=2)
        labels.append(_critic_label(model))
        ax2.set_ylabel(_critic_label(model), color="tab:red")
        if getattr(model, "loss_name", "") in ("minimax", "nonsaturating"):
            ax2.set_ylim(0, 1)
    ax.legend(lines, labels, loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=10)
    return _figure_array(fig)


def scatter_figure(model, mixture: Mixture, real: torch.Tensor, samples: torch.Tensor, title: str = "") -> np.ndarray:
    """2-D: real and generated samples over the discriminator's decision surface (if the model has one)."""
    plt = _pyplot()
    pad = 1.0 + 4 * float(mixture.stds.max())
    lo = mixture.means.min(0).values - pad
    hi = mixture.means.max(0).values + pad
    fig, ax = plt.subplots(figsize=(6, 5.4), dpi=100)
    if callable(getattr(model, "critic", None)):
        gx, gy = torch.meshgrid(torch.linspace(float(lo[0]), float(hi[0]), 150),
                                torch.linspace(float(lo[1]), float(hi[1]), 150), indexing="xy")
        d = model.critic(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)).float().cpu().view(gx.shape)
        cs = ax.contourf(gx.numpy(), gy.numpy(), d.numpy(), levels=20, cmap="RdBu_r", alpha=0.6)
        fig.colorbar(cs, ax=ax, label=_critic_label(model))
    r, g = real.detach().float().cpu().numpy(), samples.detach().float().cpu().numpy()
    ax.scatter(r[:, 0], r[:, 1], s=3, c="black", alpha=0.5, label="real")
    ax.scatter(g[:, 0], g[:, 1], s=3, c="tab:orange", alpha=0.5, label="generated")
    ax.set_xlim(float(lo[0]), float(hi[0]))
    ax.set_ylim(float(lo[1]), float(hi[1]))
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8, markerscale=3)
    ax.set_title(title, fontsize=10)
    return _figure_array(fig)


def toy_figure(model, mixture: Mixture, real: torch.Tensor, samples: torch.Tensor, title: str = "") -> tuple[str, np.ndarray]:
    """(kind, picture) for the mixture's dimension: ``density`` (1-D) or ``scatter`` (2-D)."""
    if mixture.dim == 1:
        return "density", density_figure(model, mixture, samples, title)
    return "scatter", scatter_figure(model, mixture, real, samples, title)


class ToyDensityCallback(L.Callback):
    def __init__(self, run_dir: str, mixture: Mixture, *, every_n_epochs: int = 1, eval_samples: int = 2500,
                 min_count: int = 1, seed: int = 0, nll_k: int = 0, nll_batch: int = 1024, echo=print):
        self.dir = Path(run_dir) / "images"
        self.mixture = mixture
        self.every_n_epochs = every_n_epochs
        self.eval_samples = eval_samples
        self.min_count = min_count
        self.seed = seed
        self.nll_k, self.nll_batch = nll_k, nll_batch
        self.echo = echo

    @torch.no_grad()
    def score(self, model, n: int, seed: int, rank: int = 0, world: int = 1) -> tuple[dict, torch.Tensor]:
        """Metrics on ``n`` samples (this rank's share drawn with seed + rank), and this rank's samples."""
        share = n // world + (1 if rank < n % world else 0)
        samples = model.sample(share, generator=torch.Generator().manual_seed(seed + rank)).float().cpu()
        modes = ModesCovered(self.mixture.means, self.mixture.stds, self.min_count)
        hq = HighQualityFraction(self.mixture.means, self.mixture.stds)
        modes.update(samples)
        hq.update(samples)
        # compute() all-reduces the counts under DDP: every rank must call it
        return {"modes_covered": float(modes.compute()), "hq_fraction": float(hq.compute()),
                "modes_total": float(len(self.mixture.means))}, samples

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.sanity_checking or not epoch_due(trainer, self.every_n_epochs):
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            values, samples = self.score(pl_module, self.eval_samples, self.seed, trainer.global_rank, trainer.world_size)
            for key, value in values.items():
                # equal on every rank already; sync_dist only silences Lightning's DDP warning
                pl_module.log(f"val/{key}", value, on_step=False, on_epoch=True, sync_dist=True,
                              prog_bar=key != "modes_total")
            self.draw(trainer, pl_module, samples, values)
        finally:
            pl_module.train(was_training)

    @rank_zero_only
    def draw(self, trainer: L.Trainer, pl_module, samples: torch.Tensor, values: dict) -> None:
        dm = trainer.datamodule
        real = dm.splits.val.tensors["image"][: self.eval_samples] if dm is not None else samples[:0]
        title = (f"epoch {trainer.current_epoch}, step {trainer.global_step}: {values['modes_covered']:.0f}/"
                 f"{values['modes_total']:.0f} modes, {100 * values['hq_fraction']:.1f}% high quality")
        kind, arr = toy_figure(pl_module, self.mixture, real, samples, title)
        path = save_png(arr, self.dir / f"toy_{kind}_epoch{trainer.current_epoch:03d}.png")
        copy_atomic(path, self.dir / f"toy_{kind}.png")  # the latest, at a stable path
        log_image_to_loggers(trainer, f"images/toy_{kind}", arr, trainer.global_step)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        """The IW-NLL over the test split, in the test phase that ``fit`` runs after training (``trainer.test``)."""
        dm = trainer.datamodule
        if self.nll_k <= 0 or not supports_likelihood(pl_module) or dm is None or len(dm.splits.test) == 0:
            return
        values = iw_nll(pl_module, dm.splits.test, self.nll_k, prefix="test", budget=self.nll_batch, seed=self.seed,
                        rank=trainer.global_rank, world=trainer.world_size, progress=False)
        values = {k: v for k, v in values.items() if not k.endswith("_bpd")}  # bits per "pixel" mean nothing here
        for key, value in values.items():
            pl_module.log(key, float(value), on_epoch=True, sync_dist=True)
        self.echo(f"test IW-NLL (k={self.nll_k}, {values['test/nll_n']} points): {values['test/nll']:.3f} nats")


def toy_callback(run_dir: str, cfg, echo=print) -> ToyDensityCallback:
    from lit_gen.data.sources.toy import mixture_from_cfg

    t = cfg.data.toy
    return ToyDensityCallback(run_dir, mixture_from_cfg(cfg.data), every_n_epochs=int(cfg.metrics.every_n_epochs),
                              eval_samples=int(t.eval_samples), min_count=int(t.min_count), seed=int(cfg.seed),
                              nll_k=int(cfg.metrics.nll_k), nll_batch=int(cfg.metrics.nll_batch), echo=echo)
