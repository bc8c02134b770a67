"""The optimizer step alone: torch's fused Adam kernel against its default per-tensor loop, on a shipped model.

    OMP_NUM_THREADS=1 python benchmarks/bench_optim.py [--models vae_mnist gan vae] [--steps 300] [--repeats 5]

For each model (built as ``python -m lit_gen.fit`` builds it, see bench_overhead.py), the parameters get fixed
random gradients and ``opt.step()`` is timed ``--steps`` times for ``optim.fused=false`` (torch's default on CPU:
one small op per tensor) and ``optim.fused=true`` (the kernel where torch has it), interleaved
``--repeats`` times in one process. Printed: ms per step of each, the ratio fused / loop, and the largest
parameter difference after the timed steps (the same update to float rounding).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overhead import CONFIGS, load  # noqa: E402


def step_time(params: list, grads: list, optim_cfg, fused: bool, steps: int) -> tuple[float, list]:
    from lit_gen.models.optim import build_optimizer

    ps = [p.detach().clone().requires_grad_() for p in params]
    for p, g in zip(ps, grads):
        p.grad = g.clone()
    opt = build_optimizer(ps, dataclasses.replace(optim_cfg, fused=fused))
    for _ in range(5):
        opt.step()
    t = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t) / steps, ps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["vae_mnist", "gan", "vae"], choices=sorted(CONFIGS))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    for name in a.models:
        cfg, _, model = load(name)
        params = [q for q in model.parameters() if q.requires_grad]
        g = torch.Generator().manual_seed(0)
        grads = [torch.randn(q.shape, generator=g) for q in params]
        times, finals = {False: [], True: []}, {}
        for r in range(a.repeats):
            for fused in ((False, True) if r % 2 == 0 else (True, False)):
                t, finals[fused] = step_time(params, grads, model.optim_cfg, fused, a.steps)
                times[fused].append(t)
        diff = max((x - y).abs().max().item() for x, y in zip(finals[False], finals[True]))
        loop, fused = statistics.median(times[False]) * 1e3, statistics.median(times[True]) * 1e3
        n = sum(q.numel() for q in params)
        print(f"{name}: {len(params)} tensors, {n:,} parameters ({cfg.optim.name}): loop {loop:.3f} ms, "
              f"fused {fused:.3f} ms per step, fused / loop {fused / loop:.3f}; largest parameter difference "
              f"after {a.steps + 5} steps {diff:.2e}", flush=True)


if __name__ == "__main__":
    main()
