"""Benchmark: DCI, SAP, MIG and the FactorVAE score at the benchmark's settings, with disentanglement_lib's estimators.

    python benchmarks/bench_disentangle.py                 # 10,000 points, factors of 5/6/8/10/32/40 values
    python benchmarks/bench_disentangle.py --n 1000        # the size `python -m lit_gen.disentangle` uses
    python benchmarks/bench_disentangle.py --jobs 2        # DCI's factors fitted in parallel too

Everything runs in this process (set OMP_NUM_THREADS=1 for a fair count), on random but structured codes:
``--latents`` latents, the first one per factor (the factor standardised, with a random leak of up to 0.5 of
another factor and Gaussian noise of std 0.3), the rest noise. The factors are class indices (disentanglement_lib's
form), uniform over ``--factors`` values each.

Printed: seconds per score; for DCI (gradient-boosted trees) the seconds per factor (one tree per class and stage,
so a factor costs in proportion to its number of classes), and with ``--jobs`` > 1 the parallel fit's time and
its ratio to the serial one (the same scores). SAP is timed with its linear SVM and, for the record, with the
depth-1 tree lit_gen used earlier (removed from lit_gen: it predicts at most two classes).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lit_gen.metrics import disentanglement_scores as S  # noqa: E402
from lit_gen.metrics.disentanglement import mig  # noqa: E402


def make_code(sizes, latents: int, kind: str, seed: int):
    """(code function factors -> latents, factor sampler). ``kind``: aligned, mixed (leaks between factors), noisy."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes)
    f_count = len(sizes)
    w = np.zeros((f_count, latents))
    w[np.arange(f_count), np.arange(f_count)] = 1.0
    noise = {"aligned": 0.05, "mixed": 0.3, "noisy": 1.0}[kind]
    if kind != "aligned":
        for k in range(f_count):  # factor k leaks into the latent of a random other factor
            other = (k + 1 + rng.integers(f_count - 1)) % f_count
            w[k, other] += rng.uniform(0.1, 0.5)
    mean, sd = (sizes - 1) / 2, np.sqrt((sizes**2 - 1) / 12)

    def code(f: np.ndarray, g: np.random.Generator) -> np.ndarray:
        z = ((f - mean) / sd) @ w + noise * g.normal(size=(len(f), latents))
        z[:, f_count:] = g.normal(size=(len(f), latents - f_count))  # uninformative latents
        return z

    def sample(n: int, g: np.random.Generator) -> np.ndarray:
        return np.stack([g.integers(0, s, n) for s in sizes], axis=1).astype(np.float64)

    return code, sample


def timed(fn, *args, **kw):
    start = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - start


def dci_by_factor(z, f, seed: int = 0):
    """DCI as ``S.dci`` computes it, fitted factor by factor to time each; (scores, seconds per factor, total)."""
    start = time.perf_counter()
    y = S.factor_classes(f, [True] * f.shape[1], 20)
    train, test = S._split(len(z), 1 / 3, seed)
    fits, seconds = [], []
    for k in range(y.shape[1]):
        (imp, acc), sec = timed(S._fit_factor, z[train], y[train, k], z[test], y[test, k], seed)
        fits.append((imp, acc))
        seconds.append(sec)
    d, c = S.dci_from_importances(np.stack([imp for imp, _ in fits], axis=1))
    scores = {"D": d, "C": c, "I": float(np.mean([acc for _, acc in fits]))}
    return scores, seconds, time.perf_counter() - start


def sap_stump(z, f, seed: int = 0) -> float:
    """SAP with a depth-1 tree per latent and discrete factor (lit_gen's earlier estimator), to time it only."""
    from sklearn.tree import DecisionTreeClassifier

    train, test = S._split(len(z), 1 / 3, seed)
    gaps = []
    for k in range(f.shape[1]):
        scores = sorted((DecisionTreeClassifier(max_depth=1, random_state=seed).fit(z[train, j : j + 1], f[train, k])
                         .score(z[test, j : j + 1], f[test, k]) for j in range(z.shape[1])), reverse=True)
        gaps.append(scores[0] - scores[1])
    return float(np.mean(gaps))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10000, help="points (DCI and SAP split them 2/3 : 1/3)")
    p.add_argument("--factors", type=int, nargs="+", default=[5, 6, 8, 10, 32, 40], help="values per factor")
    p.add_argument("--latents", type=int, default=10)
    p.add_argument("--jobs", type=int, default=1, help="also time DCI with its factors fitted in this many processes")
    p.add_argument("--votes", type=int, nargs=2, default=[10000, 5000], metavar=("TRAIN", "TEST"),
                   help="FactorVAE batches of 64 (disentanglement_lib: 10,000 / 5,000)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")

    code, sample = make_code(args.factors, args.latents, "mixed", args.seed)
    g = np.random.default_rng(args.seed + 1)
    f = sample(args.n, g)
    z = code(f, g)
    print(f"{args.n} points, factors of {args.factors} values, {args.latents} latents (mixed code), one process")

    (m, _), t_mig = timed(mig, z, f, [True] * f.shape[1])
    print(f"MIG      {t_mig:8.2f} s   score {m:.3f}")
    s_svm, t_svm = timed(S.sap, z, f, [True] * f.shape[1])
    s_stump, t_stump = timed(sap_stump, z, f)
    print(f"SAP svm  {t_svm:8.2f} s   score {s_svm:.3f}   (reference: LinearSVC(C=0.01, class_weight='balanced'))")
    print(f"SAP tree {t_stump:8.2f} s   score {s_stump:.3f}   (the earlier depth-1 tree, removed)  "
          f"time ratio tree/svm {t_stump / t_svm:.2f}")

    std = z.std(0)
    batches = []
    for count in args.votes:
        split = []
        for _ in range(count):
            k = int(g.integers(len(args.factors)))
            fb = sample(64, g)
            fb[:, k] = fb[0, k]
            split.append((k, code(fb, g)))
        batches.append(split)
    fv, t_fv = timed(S.factor_vae_score, batches[0], batches[1], std, len(args.factors))
    print(f"FactorVAE {t_fv:7.2f} s   score {fv:.3f}   ({args.votes[0]} / {args.votes[1]} votes; the score alone, "
          "batches prebuilt)")

    scores, per_factor, total = dci_by_factor(z, f, args.seed)
    print(f"DCI gbt {total:8.2f} s   D {scores['D']:.3f} C {scores['C']:.3f} I {scores['I']:.3f}")
    print("    per factor (classes: s): " + ", ".join(f"{k}: {s:.1f}" for k, s in zip(args.factors, per_factor)))
    if args.jobs > 1:
        par, t_par = timed(S.dci, z, f, [True] * f.shape[1], seed=args.seed, n_jobs=args.jobs, progress=False)
        same = abs(par["dci_disentanglement"] - scores["D"]) < 1e-12 and abs(par["dci_completeness"] - scores["C"]) < 1e-12
        print(f"DCI gbt, {args.jobs} jobs {t_par:8.2f} s   ratio to serial {t_par / total:.3f}   same scores: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
