"""IW-NLL throughput against the FLOP limit of its own matrix shapes, on this machine.

    OMP_NUM_THREADS=1 python benchmarks/bench_iwnll.py [--images 200] [--k 500] [--budget 1024 4096 16384]

The model is configs/vae_mnist.yaml's 784-200-200-50 MLP VAE, built through the CLI's path (random weights:
the cost does not depend on them), on random binary 28 px images. For each ``metrics.nll_batch`` budget it times
``iw_log_likelihood`` (the code ``evaluate`` and the test phase run) and counts the decoder's matmul FLOPs,
2 * (50*200 + 200*200 + 200*784) per importance sample. The limit is the same three matmuls alone (no bias,
activation or likelihood), timed at the same batch in the same process: GFLOP/s of the shapes the decoder
multiplies. Printed: ms, GFLOP/s and the fraction of the limit, per budget, interleaved over ``--repeats``.
"""

from __future__ import annotations

import argparse
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


def limit_gflops(batch: int, reps: int = 20) -> float:
    ws = [torch.randn(b, a) for a, b in DECODER]  # nn.Linear's (out, in) weights
    h0 = torch.randn(batch, DECODER[0][0])
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        h = h0
        for w in ws:
            h = h @ w.t()
        best = min(best, time.perf_counter() - t)
    return 2 * batch * sum(a * b for a, b in DECODER) / best / 1e9


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--k", type=int, default=500)
    p.add_argument("--budget", type=int, nargs="+", default=[1024, 4096, 16384])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    from lit_gen.metrics.likelihood import iw_log_likelihood, plan

    vae = model()
    x = (torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0)) < 0.13).float()
    flops = FLOPS_PER_SAMPLE * args.images * args.k
    times = {b: [] for b in args.budget}
    limits = {b: [] for b in args.budget}
    for r in range(args.repeats):
        for b in args.budget:
            torch.manual_seed(1)
            t = time.perf_counter()
            iw_log_likelihood(vae, x, args.k, b)
            times[b].append(time.perf_counter() - t)
            chunk, sub = plan(args.k, b)
            limits[b].append(limit_gflops(chunk * sub))
    print(f"threads {torch.get_num_threads()}; {args.images} images x k={args.k}: "
          f"{flops / 1e9:.1f} GFLOP of decoder matmuls; medians of {args.repeats}")
    print(f"{'budget':>7} {'chunk x images':>15} {'ms':>9} {'GFLOP/s':>8} {'limit GFLOP/s':>14} {'fraction':>9}")
    for b in args.budget:
        chunk, sub = plan(args.k, b)
        t, lim = statistics.median(times[b]), statistics.median(limits[b])
        print(f"{b:>7} {f'{chunk} x {sub}':>15} {1e3 * t:>9.0f} {flops / t / 1e9:>8.1f} {lim:>14.1f} "
              f"{flops / t / 1e9 / lim:>9.3f}")


if __name__ == "__main__":
    main()
