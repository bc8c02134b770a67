"""AIS throughput (lit_gen/metrics/ais.py) against the FLOP limit of its decoder passes, on this machine.

    OMP_NUM_THREADS=1 python benchmarks/bench_ais.py [--models vae gan] [--batch 4 16] [--steps 1000]
        [--chains 16] [--leapfrog 10] [--timed-steps 11] [--repeats 3]

Models, built through the CLI's path with random weights (the cost does not depend on them): ``vae``,
configs/vae_mnist.yaml's 784-200-200-50 MLP VAE with its Bernoulli likelihood on random binary 28 px images;
``gan``, configs/gan.yaml's DCGAN-32 generator (latent 64, width 32, one channel) under N(G(z), 0.05^2 I) on random
32 px images. Every HMC transition costs ``leapfrog`` decoder passes, each a forward pass and a backward pass to z;
a chain of T steps makes (T - 1) * leapfrog + 1 of them, for each of its chains, whatever the acceptance.

For each ``--batch`` (images per pass, times ``--chains`` rows) it times ``ais_log_likelihood`` over
``--timed-steps`` steps and scales the time to ``--steps`` by the pass count (the time is linear in it). Decoder
FLOPs are the matmul and convolution FLOPs of one pass (forward and backward to z; torch's FlopCounterMode). Two
limits, each timed right after the run in the same process: ``own``, the MLP's six matmuls alone (forward, and
backward to the input) at the same rows, as benchmarks/bench_iwnll.py does for the IW-NLL; ``peak``, a
1024 x 1024 x 1024 float32 matmul. Printed per model and batch: seconds per image at the recommended settings,
GFLOP/s, and the fractions of the limits (limit time / AIS time for the same FLOPs); medians and ranges over
``--repeats`` interleaved repeats.
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

MLP = [(50, 200), (200, 200), (200, 784)]  # configs/vae_mnist.yaml's decoder, (in, out)


def build(name: str):
    """(model, decoder for AIS, random images) for ``vae`` or ``gan``."""
    from lit_gen.config import load_config
    from lit_gen.metrics import ais
    from lit_gen.registry import build_model
    from lit_gen.spec import DataSpec

    config, size = {"vae": ("vae_mnist", 28), "gan": ("gan", 32)}[name]
    cfg = load_config(str(REPO / "configs" / f"{config}.yaml"), ["trainer.accelerator=cpu"])
    torch.manual_seed(0)
    model = build_model(cfg, DataSpec(channels=1, image_size=size, pixel_mean=[0.13] * size * size)).eval()
    model.requires_grad_(False)
    if name == "vae":
        return model, ais.own_likelihood(model), lambda n: (torch.rand(n, 1, size, size) < 0.13).float()
    gaussian = ais.gaussian_decoder(model.decoder_mean, model.latent_dim, 0.05)
    return model, gaussian, lambda n: torch.rand(n, 1, size, size)


def pass_flops(decoder, x1: torch.Tensor) -> int:
    """Matmul and convolution FLOPs of one decoder pass for one row: forward and backward to z."""
    from torch.utils.flop_counter import FlopCounterMode

    # backward() rather than AIS's autograd.grad, which the counter's module hooks refuse; the weights do not
    # require grad (build), so both compute the same gradient to z alone
    z = torch.zeros(1, decoder.latent_dim, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        decoder.log_lik(z, x1).sum().backward()
    return counter.get_total_flops()


def passes(steps: int, leapfrog: int) -> int:
    """Decoder passes per chain: one at the start, ``leapfrog`` per transition, no transition at beta = 1."""
    return (steps - 1) * leapfrog + 1


def own_limit_seconds(rows: int, n_passes: int) -> float:
    """The MLP decoder's matmuls alone (forward, and backward to the input) for ``n_passes`` passes of ``rows``."""
    ws = [torch.randn(b, a) for a, b in MLP]
    h0, g0 = torch.randn(rows, MLP[0][0]), torch.randn(rows, MLP[-1][1])
    reps = max(1, min(n_passes, 200))
    t = time.perf_counter()
    for _ in range(reps):
        h = h0
        for w in ws:
            h = h @ w.t()
        g = g0
        for w in reversed(ws):
            g = g @ w
    return (time.perf_counter() - t) * n_passes / reps


def peak_gflops() -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    t = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 1024**3 / (time.perf_counter() - t) / 1e9


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=["vae", "gan"], choices=["vae", "gan"])
    p.add_argument("--batch", type=int, nargs="+", default=[4, 16], help="images per pass")
    p.add_argument("--steps", type=int, default=1000, help="the recommended T the times are scaled to")
    p.add_argument("--chains", type=int, default=16)
    p.add_argument("--leapfrog", type=int, default=10)
    p.add_argument("--timed-steps", type=int, default=11, help="steps actually run per timing")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    from lit_gen.allocator import keep_freed_memory
    from lit_gen.metrics import ais

    keep_freed_memory()
    print(f"threads {torch.get_num_threads()}; recommended settings T={args.steps}, {args.chains} chains, "
          f"{args.leapfrog} leapfrog steps: {passes(args.steps, args.leapfrog) * args.chains} decoder passes per "
          f"image; times scaled from {args.timed_steps} steps; medians of {args.repeats} interleaved repeats")
    print(f"{'model':>5} {'batch':>6} {'rows':>5} {'MFLOP/pass':>10} {'s/image':>8} {'GFLOP/s':>8} "
          f"{'peak GFLOP/s':>12} {'of peak':>8} {'of own':>7} {'range of peak':>14}")
    for name in args.models:
        model, decoder, images = build(name)
        flops = pass_flops(decoder, images(1))
        timed = ais.Settings(steps=args.timed_steps, chains=args.chains, leapfrog=args.leapfrog)
        ais.ais_log_likelihood(decoder, images(2), ais.Settings(steps=3, chains=2, leapfrog=2), progress=False)
        times, peaks, owns = {b: [] for b in args.batch}, {b: [] for b in args.batch}, {b: [] for b in args.batch}
        for _ in range(args.repeats):
            for b in args.batch:
                x = images(b)
                t = time.perf_counter()
                ais.ais_log_likelihood(decoder, x, ais.Settings(**{**vars(timed), "batch_size": b}), progress=False)
                times[b].append((time.perf_counter() - t) / b)  # seconds per image at the timed steps
                peaks[b].append(peak_gflops())
                if name == "vae":
                    owns[b].append(own_limit_seconds(b * args.chains, passes(args.timed_steps, args.leapfrog)) / b)
        scale = passes(args.steps, args.leapfrog) / passes(args.timed_steps, args.leapfrog)
        flops_image = flops * args.chains * passes(args.timed_steps, args.leapfrog)
        for b in args.batch:
            t, peak = statistics.median(times[b]), statistics.median(peaks[b])
            of_peak = [flops_image / tt / 1e9 / pk for tt, pk in zip(times[b], peaks[b])]
            own = f"{statistics.median([o / tt for o, tt in zip(owns[b], times[b])]):.3f}" if owns[b] else "-"
            print(f"{name:>5} {b:>6} {b * args.chains:>5} {flops / 1e6:>10.2f} {t * scale:>8.2f} "
                  f"{flops_image / t / 1e9:>8.1f} {peak:>12.1f} {statistics.median(of_peak):>8.3f} {own:>7} "
                  f"{f'{min(of_peak):.3f}-{max(of_peak):.3f}':>14}")


if __name__ == "__main__":
    main()
