"""DCI, SAP and the FactorVAE score (reference.md §5), beside MIG in ``disentanglement.py``; numpy in, floats out.

The defaults are disentanglement_lib's estimators (google-research/disentanglement_lib,
``evaluation/metrics/{dci,sap_score,factor_vae,mig,utils}.py``), written here to the same definitions; the scores
move with the estimator, so only the defaults may be compared with published numbers.

Factors. disentanglement_lib's factors are all class indices (dSprites' 40 orientations and 32 positions
included) and it never bins them. Here a factor is a *class factor* when the caller flags it discrete (a class
index) or when it takes at most ``grid_classes`` (64) distinct values, each on average at least twice (a grid
coordinate stored as its value: sprites' scale, orientation, positions); its distinct values are its classes.
Other factors are continuous and are cut into ``bins`` (20) equal-width bins where a score needs classes (MIG,
DCI); disentanglement_lib has no such factors, so that part is lit_gen's own.

* **DCI** (Eastwood & Williams 2018): one classifier per factor on the codes, predicting its classes. Default
  ``estimator="gbt"``: scikit-learn's ``GradientBoostingClassifier`` with its defaults (100 stages of depth-3
  trees, one tree per class and stage), as disentanglement_lib; importances R (latents x factors) are its impurity
  importances. Disentanglement: 1 - the base-K entropy of each latent's row, weighted by the row's share of R;
  completeness: 1 - the base-D entropy of each factor's column, weighted by the column's share of R (a factor
  with an all-zero column, e.g. a constant factor, weighs nothing); entropies of R + 1e-11, as the reference.
  Informativeness: the mean test accuracy. It is slow (one tree per class and stage, most of the time in the
  factors of many classes; ``benchmarks/bench_disentangle.py`` measures it), so a progress bar shows when the fits
  take a while, and ``n_jobs`` fits factors in parallel (the same numbers).
* **SAP** (Kumar et al. 2018): a score per latent and factor from that one latent: for a class factor the test
  accuracy of ``LinearSVC(C=0.01, class_weight="balanced")``, for a continuous one R^2 of a 1-D linear fit (the
  squared correlation; 0 for a latent of variance <= 1e-12), as disentanglement_lib with ``continuous_factors``
  False / True (it sets one flag for all factors; here each factor has its own). Per factor the gap between the
  best and second-best latent, averaged over factors.
* **FactorVAE score** (Kim & Mnih 2018): batches with one factor fixed (``fixed_factor_batches``, from the
  factor-batch varier), latents divided by their global std, the latent of least variance votes for the fixed
  factor; the majority-vote classifier's accuracy on held-out batches. Latents of global *standard deviation*
  below 0.05 are pruned (disentanglement_lib's ``prune_dims.threshold``, which compares the std).

Train / test: one set of N points split 2/3 : 1/3 (disentanglement_lib draws separate train and test sets).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

GRID_CLASSES = 64  # a factor with at most this many distinct values (each seen twice on average) is a class factor


def discretize(x: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width histogram bin index per column (constant columns fall in bin 0)."""
    lo, hi = x.min(0), x.max(0)
    width = np.where(hi > lo, (hi - lo) / bins, 1.0)
    return np.clip(((x - lo) / width).astype(np.int64), 0, bins - 1)


def class_factor_mask(factors: np.ndarray, discrete: Sequence[bool] = (),
                      grid_classes: int = GRID_CLASSES) -> np.ndarray:
    """(K,) bool: factor k is a class factor (flagged discrete, or a grid of <= ``grid_classes`` values)."""
    f = np.asarray(factors)
    disc = list(discrete) + [False] * (f.shape[1] - len(discrete))
    out = np.zeros(f.shape[1], dtype=bool)
    for k in range(f.shape[1]):
        if disc[k]:
            out[k] = True
        elif grid_classes > 0:
            values = len(np.unique(f[:, k]))
            out[k] = values <= grid_classes and 2 * values <= len(f)
    return out


def factor_classes(factors: np.ndarray, discrete: Sequence[bool], bins: int,
                   grid_classes: int = GRID_CLASSES) -> np.ndarray:
    """Each factor as class indices: class factors by their distinct values (flagged ones rounded first),
    continuous ones in ``bins`` equal-width bins."""
    f = np.asarray(factors, dtype=np.float64)
    disc = list(discrete) + [False] * (f.shape[1] - len(discrete))
    mask = class_factor_mask(f, discrete, grid_classes)
    cols = []
    for k in range(f.shape[1]):
        if mask[k]:
            cols.append(np.unique(f[:, k].round() if disc[k] else f[:, k], return_inverse=True)[1].reshape(-1))
        else:
            cols.append(discretize(f[:, k : k + 1], bins)[:, 0])
    return np.stack(cols, axis=1).astype(np.int64)


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1 - test_fraction)))
    return order[:cut], order[cut:]


def _one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """1 - the base-``base`` entropy of each row of ``p`` + 1e-11 (each row normalised), as scipy.stats.entropy."""
    p = p + 1e-11
    p = p / p.sum(1, keepdims=True)
    return 1.0 + (p * np.log(p)).sum(1) / np.log(base)


def dci_from_importances(importances) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (latents x factors), as disentanglement_lib:
    entropies in base K (factors) and D (latents), each latent weighted by its row's share of R and each factor
    by its column's share. One factor (K = 1) or one latent (D = 1), where the reference's base-1 entropy is
    undefined: that score is 1. An all-zero R: (0, 0)."""
    r = np.abs(np.asarray(importances, dtype=np.float64))
    d, k = r.shape
    total = r.sum()
    if total <= 0:
        return 0.0, 0.0
    disent = _one_minus_entropy(r, k) if k > 1 else np.ones(d)
    complete = _one_minus_entropy(r.T, d) if d > 1 else np.ones(k)
    return float((disent * r.sum(1) / total).sum()), float((complete * r.sum(0) / total).sum())


def _fit_factor(z_train, y_train, z_test, y_test, seed: int) -> tuple[np.ndarray, float]:
    """(importances (D,), test accuracy) of one factor's gradient-boosted classifier. A factor with one class in
    the training split (constant): no classifier, zero importances, and its one class predicted."""
    classes = np.unique(y_train)
    if len(classes) < 2:
        return np.zeros(z_train.shape[1]), float(np.mean(y_test == classes[0]))
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=seed).fit(z_train, y_train)
    return np.abs(model.feature_importances_), float(model.score(z_test, y_test))


def dci(latents, factors, discrete: Sequence[bool] = (), bins: int = 20, test_fraction: float = 1 / 3,
        seed: int = 0, n_jobs: int = 1, grid_classes: int = GRID_CLASSES, progress: bool = True) -> dict:
    """{"dci_disentanglement", "dci_completeness", "dci_informativeness"}. ``n_jobs``: factors fitted in
    parallel (the same numbers); ``progress``: a bar over the factors, shown when the fits take a while."""
    from lit_gen.metrics.tqdm_bar import progress_bar

    z = np.asarray(latents, dtype=np.float64)
    y = factor_classes(np.asarray(factors, dtype=np.float64), discrete, bins, grid_classes)
    train, test = _split(len(z), test_fraction, seed)
    jobs = [(z[train], y[train, k], z[test], y[test, k], seed) for k in range(y.shape[1])]
    bar = progress_bar(len(jobs), f"DCI (gradient-boosted trees, {len(z)} points)", progress, unit="factor",
                       delay=2.0)
    with warnings.catch_warnings():  # 20 bins of a few hundred points "could represent a regression problem"
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        if n_jobs == 1:
            fits = []
            for job in jobs:
                fits.append(_fit_factor(*job))
                bar.update(1)
        else:
            from joblib import Parallel, delayed

            fits = Parallel(n_jobs=n_jobs)(delayed(_fit_factor)(*job) for job in jobs)
            bar.update(len(jobs))
    bar.close()
    importances = np.stack([imp for imp, _ in fits], axis=1) if fits else np.zeros((z.shape[1], 0))
    d, c = dci_from_importances(importances)
    return {"dci_disentanglement": d, "dci_completeness": c,
            "dci_informativeness": float(np.mean([acc for _, acc in fits]))}


def sap(latents, factors, discrete: Sequence[bool] = (), test_fraction: float = 1 / 3, seed: int = 0,
        grid_classes: int = GRID_CLASSES) -> float:
    """The SAP score: mean over factors of (best - second best) single-latent prediction score."""
    from sklearn.svm import LinearSVC

    z = np.asarray(latents, dtype=np.float64)
    f = np.asarray(factors, dtype=np.float64)
    mask = class_factor_mask(f, discrete, grid_classes)
    y = factor_classes(f, discrete, 20, grid_classes)
    train, test = _split(len(z), test_fraction, seed)
    gaps = []
    for k in range(f.shape[1]):
        scores = []
        for j in range(z.shape[1]):
            if mask[k]:
                if len(np.unique(y[train, k])) < 2:  # a constant factor: nothing to tell apart
                    scores.append(0.0)
                    continue
                svm = LinearSVC(C=0.01, class_weight="balanced").fit(z[train, j : j + 1], y[train, k])
                scores.append(float(svm.score(z[test, j : j + 1], y[test, k])))
            else:
                zj, fk = z[:, j], f[:, k]
                var_z, var_f = zj.var(), fk.var()
                cov = np.mean((zj - zj.mean()) * (fk - fk.mean()))
                scores.append(0.0 if var_z <= 1e-12 or var_f == 0 else float(cov**2 / (var_z * var_f)))
        best = np.sort(scores)[::-1]
        gaps.append(best[0] - (best[1] if len(best) > 1 else 0.0))
    return float(np.mean(gaps))


def factor_vae_score(train_batches: Sequence[tuple[int, np.ndarray]], test_batches: Sequence[tuple[int, np.ndarray]],
                     global_std, num_factors: int, prune_below: float = 0.05) -> float:
    """Majority-vote accuracy; each batch is (index of the fixed factor, its latents (B, D)). Latents whose
    ``global_std`` is below ``prune_below`` are pruned (the std, as disentanglement_lib; not the variance)."""
    std = np.asarray(global_std, dtype=np.float64)
    active = std >= prune_below
    if not active.any():
        return 0.0

    def vote(latents: np.ndarray) -> int:
        var = (np.asarray(latents, dtype=np.float64)[:, active] / std[active]).var(0)
        return int(np.argmin(var))

    votes = np.zeros((int(active.sum()), num_factors))
    for k, batch in train_batches:
        votes[vote(batch), k] += 1
    classify = votes.argmax(1)
    hits = [classify[vote(batch)] == k for k, batch in test_batches]
    return float(np.mean(hits)) if hits else 0.0
