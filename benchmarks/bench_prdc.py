"""Benchmark: precision / recall / density / coverage, lit_gen's chunked pass against the ``prdc`` package.

    python benchmarks/bench_prdc.py                        # 10k real, 10k generated, 128-d features
    python benchmarks/bench_prdc.py --n 5000 --dim 128 --repeats 3 --chunks 256 1024

Both run in this process on the same random features, alternating, ``--repeats`` times each: ``prdc``
(Naeem et al.'s reference, called twice, with k = 3 for precision / recall and k = 5 for density /
coverage, lit_gen's defaults; it builds the full N x N matrices) and ``lit_gen.metrics.prdc.prdc`` (one
call, both ks, chunked). glibc's mmap threshold is fixed at 1 MB first, so freed blocks leave the resident
set at once and the peak is what each call holds alive. For each it prints the median wall time and the peak resident memory above the
memory before the call (the kernel's VmHWM, reset before each call through ``/proc/self/clear_refs``),
then the ratios: time lit_gen / prdc, and lit_gen's peak extra memory / the bytes of one full N x N
float32 distance matrix. It also checks that both give the same four numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _status_mb(field: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def exact_rss() -> None:
    """Every block over 1 MB mapped fresh and unmapped when freed (glibc): the resident memory then follows
    what is alive, for numpy and torch alike, instead of glibc's adaptive threshold keeping freed blocks."""
    import ctypes

    ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD; a fixed value turns the adaptation off


def measured(fn):
    """(result, seconds, peak resident MB above the resident MB before the call)."""
    _reset_peak()
    before = _status_mb("VmRSS")
    t = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    return out, seconds, _status_mb("VmHWM") - before


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="real and generated points each (default 10000)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunks", type=int, nargs="+", default=[256], help="lit_gen's chunk sizes to time")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args(argv)

    import numpy as np
    import torch

    try:
        import prdc as reference
    except ImportError:
        print("error: the reference package is missing (pip install prdc)", file=sys.stderr)
        return 2
    from lit_gen.metrics.prdc import DC_K, PR_K, prdc

    if args.threads:
        torch.set_num_threads(args.threads)
    exact_rss()
    rng = np.random.default_rng(0)
    real = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    fake = (rng.standard_normal((args.n, args.dim)) * 1.1 + 0.1).astype(np.float32)
    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)

    def run_reference():
        with contextlib.redirect_stdout(io.StringIO()):  # it prints the counts
            pr, dc = reference.compute_prdc(real, fake, PR_K), reference.compute_prdc(real, fake, DC_K)
        return {"precision": float(pr["precision"]), "recall": float(pr["recall"]),
                "density": float(dc["density"]), "coverage": float(dc["coverage"])}

    runs = {"prdc": run_reference}
    for c in args.chunks:
        runs[f"lit_gen chunk={c}"] = lambda c=c: prdc(real_t, fake_t, PR_K, DC_K, chunk=c)
    times = {k: [] for k in runs}
    peaks = {k: [] for k in runs}
    results = {}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            out, sec, peak = measured(fn)
            times[name].append(sec)
            peaks[name].append(peak)
            results[name] = out
    full_mb = args.n * args.n * 4 / 2**20
    print(f"N = {args.n} real and {args.n} generated, d = {args.dim}, k = {PR_K} / {DC_K}, "
          f"torch threads {torch.get_num_threads()}; one full float32 distance matrix = {full_mb:.0f} MB")
    ref_t = statistics.median(times["prdc"])
    for name in runs:
        t, m = statistics.median(times[name]), max(peaks[name])
        line = f"{name:>20}: {t:7.2f} s (runs {', '.join(f'{x:.2f}' for x in times[name])}), peak extra {m:7.1f} MB"
        if name != "prdc":
            line += f"  | time / prdc {t / ref_t:.3f}, peak extra / full matrix {m / full_mb:.3f}"
        print(line)
    ref = results["prdc"]
    for name, out in results.items():
        diff = max(abs(out[k] - ref[k]) for k in ref)
        print(f"{name:>20}: " + ", ".join(f"{k} {out[k]:.4f}" for k in ref) + f"  (max |diff| vs prdc {diff:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
