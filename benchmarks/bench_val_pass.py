"""Benchmark: what precision / recall / density / coverage add to a validation pass, and the pass against an epoch.

    python benchmarks/bench_val_pass.py --ckpt runs/NAME/checkpoints/last.ckpt [--repeats 2] [key=value ...]

In one process, on the checkpoint's model and data (``metrics.num_samples`` against the training split, as the
fit callback measures at validation): the whole validation panel (``measure``: FID / IS / KID, precision / recall /
density / coverage, blur) with and without the precision-recall metric, alternating, ``--repeats`` times each; and
one training epoch's worth of the model's training steps (``--steps``, default the epoch's batches), timed in the
same process. Prints the medians and the ratios: panel with / without precision-recall, and each panel / the
epoch. The real statistics are fed once before the timing, as in a run, where they are computed at the first
validation only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--steps", type=int, default=None, help="training steps timed (default: one epoch's batches)")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)

    import lightning as L
    import torch

    from lit_gen.checkpoints import load_model
    from lit_gen.metrics.feature_extractor import build_extractor
    from lit_gen.metrics.sample_quality import SampleQuality, measure

    model, dm, cfg, _ = load_model(args.ckpt, "fit", args.overrides)
    extractor = build_extractor(cfg.metrics, cfg.data, splits=dm.splits, progress=False)
    train = dm.splits.train
    n = cfg.metrics.num_samples
    panels = {}
    for name in ("with precision-recall", "without"):
        q = SampleQuality.from_config(extractor, cfg.metrics, cfg.seed)
        if name == "without":
            q.prdc = None
        measure(model, train, q, n, seed=cfg.seed, progress=False)  # the real side, once, as at the first validation
        panels[name] = q
    times = {k: [] for k in panels}
    for _ in range(args.repeats):
        for name, q in panels.items():
            t = time.perf_counter()
            measure(model, train, q, n, seed=cfg.seed, progress=False)
            times[name].append(time.perf_counter() - t)

    loader = dm.train_dataloader()
    steps = args.steps or len(loader)
    trainer = L.Trainer(max_steps=steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    t = time.perf_counter()
    trainer.fit(model, train_dataloaders=loader)
    epoch = (time.perf_counter() - t) * len(loader) / steps

    with_pr, without = statistics.median(times["with precision-recall"]), statistics.median(times["without"])
    print(f"{cfg.model.name} on {cfg.data.name}, N = {min(n, len(train))}, torch threads {torch.get_num_threads()}")
    print(f"validation panel: with precision-recall {with_pr:.2f} s, without {without:.2f} s "
          f"(runs {', '.join(f'{x:.2f}' for x in times['with precision-recall'])} / "
          f"{', '.join(f'{x:.2f}' for x in times['without'])}); precision-recall adds {with_pr - without:.2f} s, "
          f"{with_pr / without:.3f}x")
    print(f"one training epoch ({len(loader)} batches, from {steps} timed steps): {epoch:.1f} s; "
          f"panel / epoch: with {with_pr / epoch:.3f}, without {without / epoch:.3f}, "
          f"precision-recall alone {(with_pr - without) / epoch:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
