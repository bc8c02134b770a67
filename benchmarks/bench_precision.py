"""The training step under the hardware's fast paths: fp32 against channels-last, bf16 autocast and both, with the
step's FLOPs against a measured matmul peak (MFU).

    python benchmarks/bench_precision.py [--models gan gan64 vae vae_mnist] [--steps 40] [--repeats 5]

Each model is built as ``python -m lit_gen.fit`` builds it (``bench_overhead.load``) and trained by
``trainer.fit`` on the same in-memory batches from the same initial weights, under:

* ``fp32``:     ``precision=32-true``, contiguous tensors (the default before ``precision: auto``)
* ``cl``:       the same, the module in ``torch.channels_last`` (as ``run.channels_last`` does: the batches stay
                contiguous; the first convolution takes them into that layout)
* ``bf16``:     ``precision=bf16-mixed`` (Lightning's autocast to bfloat16; weights and optimizer stay fp32)
* ``bf16_cl``:  both

Models: ``gan`` (configs/gan.yaml: DCGAN 32 px, batch 64), ``gan64`` (the same at 64 px), ``vae``
(configs/vae.yaml: the conv VAE, batch 64) and ``vae_mnist`` (the 784-200-200-50 MLP VAE, batch 100; no
convolutions, so no channels-last variants). The variants run interleaved ``--repeats`` times in one process in
rotating order, so load from other jobs hits all of them alike; the medians of ms per step and the ratios to
``fp32`` (the median of the ratios paired within each repeat) are printed.

MFU: the FLOPs of one training step (``torch.utils.flop_counter.FlopCounterMode`` over one step of
``trainer.fit``: forward and backward, both networks of the GAN) over its median time, against the peak of a
2048 x 2048 matmul at the same precision on this machine and thread count (best of ``--peak-repeats``).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import torch  # noqa: E402

from bench_overhead import Batches, StepTimer, load, preload  # noqa: E402

MODELS = {"gan": ("gan", ()), "gan64": ("gan", ("data.image_size=64",)), "vae": ("vae", ()),
          "vae_mnist": ("vae_mnist", ())}
VARIANTS = ("fp32", "cl", "bf16", "bf16_cl")
PRECISION = {"fp32": "32-true", "cl": "32-true", "bf16": "bf16-mixed", "bf16_cl": "bf16-mixed"}


def fit_steps(model, batches: list, warmup: int, precision: str, callbacks=()) -> float:
    """Wall seconds per step of ``trainer.fit`` over ``batches`` (from batch ``warmup`` to the last)."""
    import lightning as L

    timer = StepTimer(warmup, len(batches) - 1)
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, max_epochs=1, limit_val_batches=0,
                        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[timer, *callbacks])
    trainer.fit(model, train_dataloaders=Batches(batches))
    return timer.per_step()[0]


def step_flops(template, batches: list, precision: str) -> float:
    """FLOPs of one training step (the counter sees every aten op of forward and backward)."""
    import lightning as L
    from torch.utils.flop_counter import FlopCounterMode

    class Count(L.Callback):  # the second step only (the first pays one-time costs, which count no FLOPs anyway)
        def __init__(self):
            self.mode = FlopCounterMode(display=False)

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == 1:
                self.mode.__enter__()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == 1:
                self.mode.__exit__(None, None, None)

    count = Count()
    fit_steps(copy.deepcopy(template), batches[:3], 0, precision, [count])
    return count.mode.get_total_flops()


def matmul_peak(dtype: torch.dtype, repeats: int, n: int = 2048) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def run_model(name: str, steps: int, warmup: int, repeats: int) -> dict:
    config, overrides = MODELS[name]
    cfg, dm, template = load(config, overrides)
    batches = preload(dm, steps)
    conv = batches[0]["image"].dim() == 4 and cfg.model.get("net", "conv") != "mlp"
    variants = [v for v in VARIANTS if conv or not v.endswith("cl")]
    fit_steps(copy.deepcopy(template), batches[: warmup + 3], warmup, "32-true")  # untimed: one-time costs
    times = {v: [] for v in variants}
    for r in range(repeats):
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            model = copy.deepcopy(template)
            if v.endswith("cl"):
                model = model.to(memory_format=torch.channels_last)
            times[v].append(fit_steps(model, batches, warmup, PRECISION[v]))
            print(f"  {name} repeat {r + 1}/{repeats} {v:>8}: {times[v][-1] * 1e3:8.2f} ms/step", flush=True)
    flops = {p: step_flops(template, batches, p) for p in ("32-true", "bf16-mixed")}
    return {"batch": batches[0]["image"].shape[0], "times": times, "flops": flops}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--peak-repeats", type=int, default=10)
    args = p.parse_args()
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore")
    peak = {"32-true": matmul_peak(torch.float32, args.peak_repeats),
            "bf16-mixed": matmul_peak(torch.bfloat16, args.peak_repeats)}
    print(f"threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"matmul peak fp32 {peak['32-true'] / 1e9:.1f} GFLOP/s, bf16 {peak['bf16-mixed'] / 1e9:.1f} GFLOP/s "
          f"({peak['bf16-mixed'] / peak['32-true']:.2f}x)")
    rows = []
    for name in args.models:
        res = run_model(name, args.steps, args.warmup, args.repeats)
        base = res["times"]["fp32"]
        for v, ts in res["times"].items():
            prec = PRECISION[v]
            med = statistics.median(ts)
            ratio = statistics.median(t / b for t, b in zip(ts, base))
            mfu = res["flops"][prec] / med / peak[prec]
            rows.append((name, v, med * 1e3, min(ts) * 1e3, max(ts) * 1e3, ratio, res["flops"][prec] / 1e9, mfu))
    print("\n| model | variant | ms/step (median) | min–max | / fp32 (paired median) | GFLOP/step | MFU |")
    print("|---|---|---|---|---|---|---|")
    for name, v, med, lo, hi, ratio, gf, mfu in rows:
        print(f"| {name} | {v} | {med:.2f} | {lo:.2f}–{hi:.2f} | {ratio:.3f} | {gf:.3f} | {mfu:.3f} |")


if __name__ == "__main__":
    main()
