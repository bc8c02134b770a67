"""Disentanglement of an encoder's latents against known generative factors (DC-IGN evaluation).

Plain functions over (N, D) latents (posterior means) and (N, K) true factors:

- :func:`spearman_matrix`: |Spearman rho| between every latent and every factor;
  DC-IGN is scored on its ASSIGNED latent per factor, a baseline on its BEST
  single latent per factor (as the paper did for its entangled baseline).
- :func:`mig`: the Mutual Information Gap (Chen et al. 2018, as in
  disentanglement_lib): latents histogrammed into 20 equal-width bins,
  class factors (flagged discrete, or a grid of at most 64 values such as
  sprites' 40 orientations) by their values as classes, as the reference
  takes its factors, continuous factors into 20 bins; per factor the gap
  between the two most informative latents over the factor's entropy;
  averaged over factors.
- :func:`rerender`: encode a scene, replace its azimuth latent with the one
  inferred from the same scene rendered at a new azimuth, decode, and compare
  with the true render (mean squared error per pixel, images in [0, 1]).
- :func:`sweep_consistency`: per held-out scene, sweep ONE factor over its range
  (everything else fixed) and correlate the latent with it. |rho| within a
  sweep says whether the latent tracks the factor locally; the share of sweeps
  whose sign agrees with the majority says whether it does so in the same
  direction for every scene. A latent can track azimuth well within each scene
  and still score a low global rho when its direction flips between shapes.
- :func:`evaluate_disentanglement`: all of the above for a model with
  ``encode``/``decode``/``to_image`` on a held-out set.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from lit_gen.metrics.disentanglement_scores import dci, discretize, factor_classes, factor_vae_score, sap

EXTRINSIC = ("azimuth", "elevation", "light")


def _ranks(a: np.ndarray) -> np.ndarray:
    """Column-wise ranks with ties averaged (scipy.stats.rankdata, axis 0)."""
    from scipy.stats import rankdata

    return rankdata(a, axis=0)


def spearman_matrix(latents, factors) -> np.ndarray:
    """(D, K) |Spearman rho| between latent d and factor k (0 where either is constant)."""
    z = _ranks(np.asarray(latents, dtype=np.float64))
    f = _ranks(np.asarray(factors, dtype=np.float64))
    z = z - z.mean(0)
    f = f - f.mean(0)
    zn = np.sqrt((z**2).sum(0))
    fn = np.sqrt((f**2).sum(0))
    denom = np.outer(zn, fn)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (z.T @ f) / denom
    return np.abs(np.nan_to_num(rho, nan=0.0))


def _mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Discrete mutual information (nats) of two integer label vectors."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def _entropy(a: np.ndarray) -> float:
    _, counts = np.unique(a, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mig(latents, factors, discrete: Sequence[bool] = (), bins: int = 20) -> tuple[float, np.ndarray]:
    """(MIG, per-factor normalised gaps). ``discrete[k]``: factor k is a class index (not binned); a grid factor
    (at most 64 distinct values) is taken as classes too (``disentanglement_scores.factor_classes``)."""
    z = discretize(np.asarray(latents, dtype=np.float64), bins)
    f = np.asarray(factors, dtype=np.float64)
    fd = factor_classes(f, discrete, bins)
    gaps = np.zeros(f.shape[1])
    for k in range(f.shape[1]):
        h = _entropy(fd[:, k])
        if h <= 0 or z.shape[1] < 2:
            continue
        mi = np.sort([_mutual_info(z[:, d], fd[:, k]) for d in range(z.shape[1])])[::-1]
        gaps[k] = (mi[0] - mi[1]) / h
    return float(gaps.mean()), gaps


@torch.no_grad()
def encode_means(model, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Posterior means (N, D) of ``images`` (N, C, H, W), on the CPU."""
    dev = next(model.parameters()).device
    out = [model.encode(images[i : i + batch].to(dev))[0].float().cpu() for i in range(0, len(images), batch)]
    return torch.cat(out)


@torch.no_grad()
def decode_images(model, z: torch.Tensor, batch: int = 256) -> torch.Tensor:
    dev = next(model.parameters()).device
    out = [model.to_image(model.decode(z[i : i + batch].to(dev))).float().cpu() for i in range(0, len(z), batch)]
    return torch.cat(out)


@torch.no_grad()
def rerender(model, factors: torch.Tensor, render: Callable, factor_col, latent, value_range,
             generator: Optional[torch.Generator] = None, batch: int = 256) -> dict:
    """Re-rendering MSE for one factor, or several at once (per pixel, images in [0, 1]).

    Each scene (``factors`` (N, K)) is rendered as it is (source) and with
    column ``factor_col`` redrawn uniformly from ``value_range`` (target). The
    source's latent ``latent`` is replaced with the target's, then decoded.
    ``factor_col``, ``latent`` and ``value_range`` may be lists (one entry per
    factor: e.g. azimuth and elevation together, the pose transfer).
    Returns ``rerender_mse`` (that decode vs the target), ``rerender_mse_recon``
    (the target's own reconstruction: the autoencoder's floor) and
    ``rerender_mse_unchanged`` (the source's reconstruction: what no transfer gives).
    """
    cols = [factor_col] if isinstance(factor_col, int) else list(factor_col)
    lats = [latent] if isinstance(latent, int) else list(latent)
    ranges = [value_range] if isinstance(value_range[0], (int, float)) else list(value_range)
    new = factors.clone()
    for col, (lo, hi) in zip(cols, ranges):
        new[:, col] = lo + (hi - lo) * torch.rand(len(factors), generator=generator)
    src, tgt = render(factors), render(new)
    z_src, z_tgt = encode_means(model, src, batch), encode_means(model, tgt, batch)
    swapped = z_src.clone()
    swapped[:, lats] = z_tgt[:, lats]
    mse = lambda z: float((decode_images(model, z, batch) - tgt).pow(2).mean())  # noqa: E731
    return {"rerender_mse": mse(swapped), "rerender_mse_recon": mse(z_tgt), "rerender_mse_unchanged": mse(z_src)}


@torch.no_grad()
def sweep_consistency(model, factors: torch.Tensor, render: Callable, factor_col: int, latent: int, value_range: tuple,
                      scenes: int = 50, steps: int = 16, batch: int = 256) -> dict:
    """Within-scene |Spearman rho| (mean over sweeps) and direction agreement (share of the majority sign)."""
    base = factors[:scenes]
    m = len(base)
    grid = base.repeat_interleave(steps, dim=0)
    grid[:, factor_col] = torch.linspace(*value_range, steps).repeat(m)
    z = encode_means(model, render(grid), batch)[:, latent].view(m, steps).numpy().astype(np.float64)
    zr = _ranks(z.T).T  # the swept values are increasing, so their ranks are 1..steps
    zr = zr - zr.mean(1, keepdims=True)
    t = np.arange(steps, dtype=np.float64) - (steps - 1) / 2
    norm = np.sqrt((zr**2).sum(1)) * np.sqrt((t**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.nan_to_num((zr @ t) / norm, nan=0.0)
    positive = float((rho > 0).mean())
    return {"sweep_rho": float(np.abs(rho).mean()), "sweep_sign_agreement": max(positive, 1.0 - positive)}


def choose_latents(rho: np.ndarray, factor_names: Sequence[str], assigned: Optional[dict],
                   scored: Sequence[str] = EXTRINSIC) -> dict:
    """The latent scored for each ``scored`` factor: the assigned one, or the best single latent (baseline)."""
    out = {}
    for name in scored:
        if name not in factor_names:
            continue
        k = list(factor_names).index(name)
        out[name] = int(assigned[name]) if assigned and name in assigned else int(np.argmax(rho[:, k]))
    return out


@torch.no_grad()
def factor_vae(model, factors: torch.Tensor, factor_names: Sequence[str], vary: Callable, render: Callable,
               global_std, votes: tuple = (60, 30), size: int = 64, seed: int = 0, batch: int = 256) -> float:
    """The FactorVAE score on rendered batches: ``votes`` (train, test) batches of ``size`` images, each keeping one
    factor (drawn at random, as disentanglement_lib does) at a held-out item's value and varying every other one
    (the renderer's ``vary``). disentanglement_lib takes 10,000 / 5,000 votes; these are fewer, to fit a validation."""
    g = torch.Generator().manual_seed(seed + 2)
    runs = []
    for count in votes:
        split = []
        for _ in range(count):
            k = int(torch.randint(len(factor_names), (1,), generator=g))
            others = [n for i, n in enumerate(factor_names) if i != k]
            base = factors[int(torch.randint(len(factors), (1,), generator=g))]
            split.append((k, encode_means(model, render(vary(base, others, size, g)), batch).numpy()))
        runs.append(split)
    return factor_vae_score(runs[0], runs[1], global_std, len(factor_names))


def evaluate_disentanglement(model, images: torch.Tensor, factors: torch.Tensor, factor_names: Sequence[str],
                             discrete: Sequence[str] = (), assigned: Optional[dict] = None,
                             render: Optional[Callable] = None, factor_ranges: Optional[dict] = None,
                             vary: Optional[Callable] = None, factor_vae_votes: int = 90, seed: int = 0,
                             batch: int = 256, scored: Sequence[str] = EXTRINSIC) -> dict:
    """All DC-IGN metrics on a held-out set. Returns ``{"metrics": {...}, "latents": (N, D), "chosen": {...}}``.

    ``metrics``: ``spearman_<factor>`` (|rho| of the scored latent), ``latent_<factor>`` (its index),
    ``spearman_best_<factor>`` (the best single latent's |rho|, for reference), ``mig`` (all factors),
    ``mig_extrinsic`` (the ``scored`` factors: azimuth, elevation, light on scenes and faces, the factors of
    the single-factor groups elsewhere), ``dci_*`` and ``sap`` (``disentanglement_scores``; also
    ``*_extrinsic``, on the three extrinsic factors), with
    ``render`` and ``vary`` the FactorVAE score ``factor_vae``, and with ``render`` the re-rendering MSEs for azimuth
    (``rerender_mse*``) and for the pose, azimuth and elevation together (``rerender_pose_mse*``), and
    ``sweep_rho_<factor>`` / ``sweep_sign_agreement_<factor>`` (:func:`sweep_consistency`) for each factor.
    """
    from lit_gen.metrics.tqdm_bar import progress_bar

    was_training = model.training
    model.eval()
    # encode + MIG, DCI, SAP, the scored factors' DCI/SAP, FactorVAE, two re-renders, one sweep per scored factor
    bar = progress_bar(4 + 3 + len(scored), "disentanglement", unit="stage", delay=2.0)
    try:
        mu = encode_means(model, images, batch)
        f = factors.float().cpu()
        rho = spearman_matrix(mu.numpy(), f.numpy())
        chosen = choose_latents(rho, factor_names, assigned, scored)
        m = {}
        for name, d in chosen.items():
            k = list(factor_names).index(name)
            m[f"spearman_{name}"] = float(rho[d, k])
            m[f"latent_{name}"] = d
            m[f"spearman_best_{name}"] = float(rho[:, k].max())
        disc = [n in discrete for n in factor_names]
        m["mig"], gaps = mig(mu.numpy(), f.numpy(), disc)
        bar.update()
        m.update(dci(mu.numpy(), f.numpy(), disc, seed=seed))
        bar.update()
        m["sap"] = sap(mu.numpy(), f.numpy(), disc, seed=seed)
        bar.update()
        if render is not None and vary is not None and factor_vae_votes > 0:
            votes = (max(1, 2 * factor_vae_votes // 3), max(1, factor_vae_votes - 2 * factor_vae_votes // 3))
            m["factor_vae"] = factor_vae(model, f, factor_names, vary, render, mu.numpy().std(0), votes=votes,
                                         seed=seed, batch=batch)
        bar.update()
        ext = [list(factor_names).index(n) for n in chosen]
        if ext:  # the scored factors alone: each has its own group, so DC-IGN gives it its own latent
            m["mig_extrinsic"] = float(gaps[ext].mean())
            fe, de = f.numpy()[:, ext], [disc[k] for k in ext]
            m.update({f"{k}_extrinsic": v for k, v in dci(mu.numpy(), fe, de, seed=seed).items()})
            m["sap_extrinsic"] = sap(mu.numpy(), fe, de, seed=seed)
        bar.update()
        if render is not None and "azimuth" in chosen and factor_ranges and "azimuth" in factor_ranges:
            g = torch.Generator().manual_seed(seed)
            m.update(rerender(model, f, render, list(factor_names).index("azimuth"), chosen["azimuth"],
                              factor_ranges["azimuth"], generator=g, batch=batch))
        bar.update()
        pose = [n for n in ("azimuth", "elevation") if n in chosen and n in (factor_ranges or {})]
        if render is not None and len(pose) == 2:  # the pose transfer: azimuth and elevation together
            g = torch.Generator().manual_seed(seed + 1)
            cols = [list(factor_names).index(n) for n in pose]
            pose_res = rerender(model, f, render, cols, [chosen[n] for n in pose], [factor_ranges[n] for n in pose],
                                generator=g, batch=batch)
            m.update({k.replace("rerender_", "rerender_pose_"): v for k, v in pose_res.items()})
        bar.update()
        if render is not None and factor_ranges:
            for name, d in chosen.items():
                if name in factor_ranges:
                    sw = sweep_consistency(model, f, render, list(factor_names).index(name), d, factor_ranges[name],
                                           batch=batch)
                    m.update({f"{k}_{name}": v for k, v in sw.items()})
                bar.update()
        return {"metrics": m, "latents": mu, "chosen": chosen, "rho": rho}
    finally:
        bar.close()
        model.train(was_training)
