"""DCI, SAP and the FactorVAE score (reference.md §5), beside MIG in ``disentanglement.py``; numpy in, floats out.

Estimators, stated because the scores move with them:

* **DCI** (Eastwood & Williams 2018): one random-forest classifier per factor (scikit-learn, 50 trees of depth 5
  that consider every latent at each split) on the codes, the factor discretised into 20 equal-width bins like
  MIG's (a class index when it is discrete). disentanglement_lib uses gradient-boosted trees; the forest is much
  faster here and ranks the unit cases the same (docs/results.md). Importances R (latents x factors) are the
  forests' impurity importances; informativeness is the mean test accuracy.
* **SAP** (Kumar et al. 2018): per factor and single latent, R^2 of a 1-D linear fit (the squared correlation)
  for continuous factors, test accuracy of a depth-1 tree (a threshold) for discrete ones; the gap between the
  best and second-best latent, averaged over factors.
* **FactorVAE score** (Kim & Mnih 2018): batches with one factor fixed (``fixed_factor_batches``, from the
  factor-batch varier), latents divided by their global std, the latent of least variance votes for the fixed
  factor; the majority-vote classifier's accuracy on held-out batches. Latents of global variance < 0.05 are pruned.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np



def discretize(x: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width histogram bin index per column (constant columns fall in bin 0)."""
    lo, hi = x.min(0), x.max(0)
    width = np.where(hi > lo, (hi - lo) / bins, 1.0)
    return np.clip(((x - lo) / width).astype(np.int64), 0, bins - 1)


def factor_classes(factors: np.ndarray, discrete: Sequence[bool], bins: int) -> np.ndarray:
    """Each factor as class indices: discrete ones as they are, continuous ones in ``bins`` equal-width bins."""
    disc = list(discrete) + [False] * (factors.shape[1] - len(discrete))
    return np.stack([factors[:, k].round().astype(np.int64) if disc[k] else discretize(factors[:, k : k + 1], bins)[:, 0]
                     for k in range(factors.shape[1])], axis=1)


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1 - test_fraction)))
    return order[:cut], order[cut:]


def dci_from_importances(importances) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (latents x factors), entropies in base K and D."""
    r = np.abs(np.asarray(importances, dtype=np.float64))
    d, k = r.shape
    total = r.sum()
    if total <= 0:
        return 0.0, 0.0

    def one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
        p = p / np.maximum(p.sum(1, keepdims=True), 1e-12)
        logp = np.log(np.where(p > 0, p, 1.0)) / np.log(base) if base > 1 else np.zeros_like(p)
        return 1.0 + (p * logp).sum(1)

    disent = one_minus_entropy(r, k) if k > 1 else np.ones(d)
    weights = r.sum(1) / total
    complete = one_minus_entropy(r.T, d) if d > 1 else np.ones(k)
    return float((disent * weights).sum()), float(complete.mean())


def dci(latents, factors, discrete: Sequence[bool] = (), bins: int = 20, test_fraction: float = 1 / 3,
        seed: int = 0) -> dict:
    """{"dci_disentanglement", "dci_completeness", "dci_informativeness"}."""
    from sklearn.ensemble import RandomForestClassifier

    z = np.asarray(latents, dtype=np.float64)
    y = factor_classes(np.asarray(factors, dtype=np.float64), discrete, bins)
    train, test = _split(len(z), test_fraction, seed)
    importances, accuracy = np.zeros((z.shape[1], y.shape[1])), []
    with warnings.catch_warnings():  # 20 bins of a few hundred points "could represent a regression problem"
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        for k in range(y.shape[1]):
            forest = RandomForestClassifier(n_estimators=50, max_depth=5, max_features=None, random_state=seed,
                                            n_jobs=1)
            forest.fit(z[train], y[train, k])
            importances[:, k] = forest.feature_importances_
            accuracy.append(forest.score(z[test], y[test, k]))
    d, c = dci_from_importances(importances)
    return {"dci_disentanglement": d, "dci_completeness": c, "dci_informativeness": float(np.mean(accuracy))}


def sap(latents, factors, discrete: Sequence[bool] = (), test_fraction: float = 1 / 3, seed: int = 0) -> float:
    """The SAP score: mean over factors of (best - second best) single-latent prediction score."""
    from sklearn.tree import DecisionTreeClassifier

    z = np.asarray(latents, dtype=np.float64)
    f = np.asarray(factors, dtype=np.float64)
    disc = list(discrete) + [False] * (f.shape[1] - len(discrete))
    train, test = _split(len(z), test_fraction, seed)
    gaps = []
    for k in range(f.shape[1]):
        scores = []
        for j in range(z.shape[1]):
            if disc[k]:
                stump = DecisionTreeClassifier(max_depth=1, random_state=seed).fit(z[train, j : j + 1], f[train, k])
                scores.append(stump.score(z[test, j : j + 1], f[test, k]))
            else:
                zj, fk = z[:, j], f[:, k]
                denom = zj.std() * fk.std()
                scores.append(0.0 if denom == 0 else float(np.mean((zj - zj.mean()) * (fk - fk.mean())) / denom) ** 2)
        best = np.sort(scores)[::-1]
        gaps.append(best[0] - (best[1] if len(best) > 1 else 0.0))
    return float(np.mean(gaps))


def factor_vae_score(train_batches: Sequence[tuple[int, np.ndarray]], test_batches: Sequence[tuple[int, np.ndarray]],
                     global_std, num_factors: int, prune_below: float = 0.05) -> float:
    """Majority-vote accuracy; each batch is (index of the fixed factor, its latents (B, D))."""
    std = np.asarray(global_std, dtype=np.float64)
    active = std ** 2 >= prune_below
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
