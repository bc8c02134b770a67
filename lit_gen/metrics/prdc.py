"""Improved precision and recall, density and coverage: the diversity side of sample quality.

Definitions (real features X_1..X_N, generated Y_1..Y_M, Euclidean distance d; a ball's radius is the
distance from its centre to its k-th nearest neighbour in its own set, the centre itself not counted):

- precision (Kynkäänniemi et al., NeurIPS 2019; k = 3): the share of the Y_j inside at least one real ball;
- recall (same paper): the share of the X_i inside at least one generated ball;
- density (Naeem et al., ICML 2020; k = 5): (1 / kM) sum_j sum_i 1[Y_j inside the ball of X_i];
- coverage (same paper): the share of the real balls that hold at least one Y_j;
- realism score of one Y_j (Kynkäänniemi et al., section 5): max_i radius_i / d(X_i, Y_j) over the real
  balls whose radius is at most the median radius (the paper drops the largest half as outliers);
  above 1 means inside a ball.

Ties count as inside (``<=``). The reference implementation, the ``prdc`` package, tests ``<``, which
miscounts points that lie exactly on a radius (its users have reported this): with continuous features the two give the
same numbers (tests/test_prdc.py checks this against ``prdc``), with repeated or grid-valued features
``<=`` is the definition. A set whose radii are all 0 (every point repeated k times) then still counts
its own copies.

Memory: the distances are computed one chunk of generated points at a time against all real points
(and the radii one chunk of rows at a time), so the peak grows with N x chunk, never with N x M; the
``prdc`` package builds the full matrices. Distances are in float64 (``|x|^2 + |y|^2 - 2 x.y``), so
integer-valued test cases are exact.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

PR_K = 3
DC_K = 5
CHUNK = 256
REALISM_QUANTILE = 0.5


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).sum(1)


def _distances(a: torch.Tensor, b: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (len(a), len(b)), float64 inputs; clamped at 0 against rounding."""
    d2 = (a @ b.T).mul_(-2.0).add_(a_sq[:, None]).add_(b_sq[None, :])  # in place: one (len(a), len(b)) block
    return d2.clamp_min_(0.0).sqrt_()


def knn_radii(x: torch.Tensor, k, chunk: int = CHUNK) -> torch.Tensor:
    """The distance from each row of ``x`` to its k-th nearest other row (float64, shape (N,)).

    The row itself is at distance 0 and is the first of the k + 1 smallest, as in ``prdc``; a duplicate of
    the row counts as a neighbour at distance 0. ``k`` may be a tuple of ks: then a (len(k), N) tensor, from
    one pass over the distances.
    """
    ks = (k,) if isinstance(k, int) else tuple(k)
    x = x.double()
    n = len(x)
    for one in ks:
        if not 1 <= one < n:
            raise ValueError(f"k={one}: needs 1 <= k < the number of points ({n})")
    sq = _sq_norms(x)
    out = torch.empty(len(ks), n, dtype=torch.float64, device=x.device)
    idx = torch.tensor(ks, device=x.device)
    for s in range(0, n, chunk):
        d = _distances(x[s : s + chunk], x, sq[s : s + chunk], sq)
        out[:, s : s + chunk] = d.topk(max(ks) + 1, dim=1, largest=False, sorted=True).values[:, idx].T
        del d  # before the next block is made: one block alive at a time
    return out[0] if isinstance(k, int) else out


def prdc(real: torch.Tensor, fake: torch.Tensor, pr_k: int = PR_K, dc_k: int = DC_K, chunk: int = CHUNK,
         realism: bool = False) -> dict:
    """Precision, recall, density and coverage of ``fake`` (M, d) against ``real`` (N, d) features.

    Returns floats under ``precision``, ``recall``, ``density``, ``coverage`` and, with ``realism``, the
    per-sample realism scores (a float64 tensor (M,)) under ``realism``.
    """
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, d) and (M, d) with the same d; got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    real, fake = real.double(), fake.double()
    r_pr, r_dc = knn_radii(real, (pr_k, dc_k), chunk)
    f_pr = knn_radii(fake, pr_k, chunk)
    real_sq, fake_sq = _sq_norms(real), _sq_norms(fake)
    n, m = len(real), len(fake)
    in_real_ball = torch.zeros(m, dtype=torch.bool, device=real.device)  # precision, per generated point
    density_counts = torch.zeros(m, dtype=torch.float64, device=real.device)
    recalled = torch.zeros(n, dtype=torch.bool, device=real.device)  # real point inside some generated ball
    covered = torch.zeros(n, dtype=torch.bool, device=real.device)  # real ball holding some generated point
    scores = [] if realism else None
    if realism:
        keep = r_pr <= torch.quantile(r_pr, REALISM_QUANTILE)
    for s in range(0, m, chunk):
        d = _distances(real, fake[s : s + chunk], real_sq, fake_sq[s : s + chunk])  # (N, chunk)
        inside_pr = d <= r_pr[:, None]
        in_real_ball[s : s + chunk] = inside_pr.any(0)
        inside_dc = inside_pr if dc_k == pr_k else d <= r_dc[:, None]
        density_counts[s : s + chunk] = inside_dc.sum(0, dtype=torch.float64)
        covered |= inside_dc.any(1)
        recalled |= (d <= f_pr[None, s : s + chunk]).any(1)
        if realism:
            with torch.no_grad():
                ratio = r_pr[keep, None] / d[keep]  # a distance of 0 gives inf: the point sits on a real one
            scores.append(ratio.max(0).values)
        del d, inside_pr, inside_dc  # before the next block is made: one block alive at a time
    out = {
        "precision": float(in_real_ball.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(density_counts.sum() / (dc_k * m)),
        "coverage": float(covered.double().mean()),
    }
    if realism:
        out["realism"] = torch.cat(scores)
    return out


class PrecisionRecall(Metric):
    """Precision, recall, density and coverage as a torchmetrics ``Metric`` (features kept as cat states).

    ``feature``: the module that maps images to (N, d) features (the FID extractor's), or None to update
    with features directly. ``reset_real_features=False`` keeps the real side across ``reset()``, as
    FID and KID do. ``realism=True`` adds the per-sample realism scores of the generated points (a tensor)
    under ``realism``. Under DDP the feature lists are all-gathered in ``compute``, so every rank gets the
    global numbers; every rank must call it.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, feature: Optional[nn.Module] = None, pr_k: int = PR_K, dc_k: int = DC_K,
                 chunk: int = CHUNK, reset_real_features: bool = True, realism: bool = False, **kwargs):
        super().__init__(**kwargs)
        for name, k in (("pr_k", pr_k), ("dc_k", dc_k), ("chunk", chunk)):
            if not isinstance(k, int) or k < 1:
                raise ValueError(f"{name}={k!r}: must be a positive int")
        self.feature = feature
        self.pr_k, self.dc_k, self.chunk = pr_k, dc_k, chunk
        self.reset_real_features = reset_real_features
        self.realism = realism
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, imgs: torch.Tensor, real: bool) -> None:
        feats = imgs if self.feature is None else self.feature(imgs)
        (self.real_features if real else self.fake_features).append(feats.detach().float())

    def compute(self) -> dict:
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)
        k = max(self.pr_k, self.dc_k)
        if min(len(real), len(fake)) <= k:
            raise ValueError(f"precision/recall need more than k={k} real and generated points; got "
                             f"{len(real)} and {len(fake)}")
        return prdc(real, fake, self.pr_k, self.dc_k, self.chunk, realism=self.realism)

    def reset(self) -> None:
        if self.reset_real_features:
            super().reset()
            return
        real = list(self.real_features)  # Metric.reset clears the list in place
        super().reset()
        self.real_features = real
