"""IW-NLL throughput against the FLOP limit of its own matrix shapes, on this machine.

    OMP_NUM_THREADS=1 python benchmarks/bench_iwnll.py [--images 200] [--k 500] [--budget 1024 4096 16384]
        [--glibc-default]

The model is configs/vae_mnist.yaml's 784-200-200-50 MLP VAE, built through the CLI's path (random weights:
the cost does not depend on them), on random binary 28 px images. For each ``metrics.nll_batch`` budget it times
``iw_log_likelihood`` (the code ``evaluate`` and the test phase run) and counts the decoder's matmul FLOPs,
2 * (50*200 + 200*200 + 200*784) per importance sample. The limit is the same three matmuls alone (no bias,
activation or likelihood), at the same batch, over the same number of samples, timed right after the evaluation in
the same process. Printed per budget: ms and GFLOP/s of both, and the fraction (limit time / evaluation time), the
median and range over ``--repeats`` interleaved repeats.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DECODER = [(50, 200), (200, 200), (200, 784)]
FLOPS_PER_SAMPLE = 2 * sum(a * b for a, b in DECODER)


def model():
    from lit_gen.config import load_config
    from lit_gen.registry import build_model
    from lit_gen.spec import DataSpec

    cfg = load_config(str(REPO / "configs" / "vae_mnist.yaml"), ["trainer.accelerator=cpu"])
    torch.manual_seed(0)
    return build_model(cfg, DataSpec(channels=1, image_size=28, pixel_mean=[0.13] * 784)).eval()


def limit_seconds(batch: int, rows: int) -> float:
    """Time of the decoder's three matmuls alone (no bias, activation or likelihood) over ``rows`` samples."""
    ws = [torch.randn(b, a) for a, b in DECODER]  # nn.Linear's (out, in) weights
    h0 = torch.randn(batch, DECODER[0][0])
    passes = max(1, round(rows / batch))
    t = time.perf_counter()
    for _ in range(passes):
        h = h0
        for w in ws:
            h = h @ w.t()
    return (time.perf_counter() - t) * rows / (passes * batch)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--k", type=int, default=500)
    p.add_argument("--budget", type=int, nargs="+", default=[1024, 4096, 16384])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--glibc-default", action="store_true",
                   help="leave glibc's malloc thresholds alone (the CLIs set them: lit_gen/allocator.py)")
    args = p.parse_args()
    from lit_gen.allocator import keep_freed_memory
    from lit_gen.metrics.likelihood import iw_log_likelihood, plan

    kept = False if args.glibc_default else keep_freed_memory()

    vae = model()
    x = (torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0)) < 0.13).float()
    rows = args.images * args.k
    flops = FLOPS_PER_SAMPLE * rows
    times = {b: [] for b in args.budget}
    limits = {b: [] for b in args.budget}
    faults = {b: [] for b in args.budget}
    iw_log_likelihood(vae, x[:2], args.k, args.budget[0])  # warm-up
    for r in range(args.repeats):
        # each repeat times the evaluation and, right after it, the limit on the same rows: a ratio of two
        # neighbouring timings, robust to the load that changes between repeats
        for b in args.budget:
            torch.manual_seed(1)
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.perf_counter()
            iw_log_likelihood(vae, x, args.k, b)
            times[b].append(time.perf_counter() - t)
            faults[b].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
            chunk, sub = plan(args.k, b)
            limits[b].append(limit_seconds(chunk * sub, rows))
    print(f"threads {torch.get_num_threads()}; freed memory kept in the process: {kept}; "
          f"{args.images} images x k={args.k}: "
          f"{flops / 1e9:.1f} GFLOP of decoder matmuls; medians of {args.repeats} interleaved repeats")
    print(f"{'budget':>7} {'chunk x images':>15} {'ms':>7} {'GFLOP/s':>8} {'limit ms':>9} {'limit GFLOP/s':>14} "
          f"{'fraction':>9} {'range':>12} {'page faults':>12}")
    for b in args.budget:
        chunk, sub = plan(args.k, b)
        t, lim = statistics.median(times[b]), statistics.median(limits[b])
        fractions = [lt / et for lt, et in zip(limits[b], times[b])]
        print(f"{b:>7} {f'{chunk} x {sub}':>15} {1e3 * t:>7.0f} {flops / t / 1e9:>8.1f} {1e3 * lim:>9.0f} "
              f"{flops / lim / 1e9:>14.1f} {statistics.median(fractions):>9.3f} "
              f"{f'{min(fractions):.3f}-{max(fractions):.3f}':>12} {statistics.median(faults[b]):>12.0f}")


if __name__ == "__main__":
    main()
