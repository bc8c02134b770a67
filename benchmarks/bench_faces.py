"""Render throughput of the ``faces`` source against what DC-IGN training consumes.

    python benchmarks/bench_faces.py [--size 64] [--repeats 3] [--steps 30] [--train-threads N] [--mesh-cell C]

Measured in turn, ``--repeats`` times, in one process (medians printed):

- the renderer on ONE core (``torch.set_num_threads(1)``): (a) DC-IGN's factor-clamped batches as training
  draws them (``RenderedVarier.make`` through ``FactorBatches``, odds of configs/dcign_faces.yaml: pose and
  light batches show one face, identity batches 32), with the compiled kernels (the default where a C compiler
  is found) and, on the same batches, with the torch code alone (``LIT_GEN_FACES_KERNEL=torch``), (b) random
  faces (each a new identity, what ``build`` pays once per run), (c) at 32, 64 and 128 px for the random faces;
- DC-IGN's consumption: images/s of ``trainer.fit`` steps of configs/dcign_faces.yaml's model on batches held in
  memory (benchmarks/bench_overhead.py's ``lightning`` variant), at ``--train-threads`` threads (default: torch's
  default, what a user's run gets).

``--mesh-cell`` renders the coarser mesh of ``data.faces.mesh_cell`` (default: the config's, the full mesh). As
the CLIs do, the process first keeps freed memory (``lit_gen.allocator``): DC-IGN renders its batches in the
training process, which runs with it.

The target: renderer (a) >= 10x the consumption. Needs eos-py and the model under
``$LIT_GEN_DATA/sfm`` (default ../shared/data/sfm).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

SMALL = ["data.faces.num_train=640", "data.faces.train_identities=320", "data.faces.num_val=64",
         "data.faces.val_identities=64", "data.faces.num_test=64", "data.faces.test_identities=64"]


def rate(fn, images: int, threads: int = 1) -> float:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = time.perf_counter()
        fn()
        return images / (time.perf_counter() - t)
    finally:
        torch.set_num_threads(old)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=30, help="training steps timed per repeat (after 5 warm-up steps)")
    p.add_argument("--batches", type=int, default=40, help="factor batches rendered per repeat")
    p.add_argument("--train-threads", type=int, default=None)
    p.add_argument("--mesh-cell", type=float, default=None, help="data.faces.mesh_cell (pixels; 0: the full mesh)")
    a = p.parse_args()
    import logging
    import warnings

    import bench_overhead as B
    import lightning  # noqa: F401

    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from lit_gen.allocator import keep_freed_memory

    keep_freed_memory()
    if a.train_threads:
        torch.set_num_threads(a.train_threads)
    from lit_gen.data.factor_batches import FactorBatches, build_varier
    from lit_gen.data.faces.renderer import truncated_normal
    from lit_gen.data.sources import faces as source

    cell = [] if a.mesh_cell is None else [f"data.faces.mesh_cell={a.mesh_cell}"]
    cfg, dm, model = B.load("configs/dcign_faces.yaml", [f"data.image_size={a.size}", *SMALL, *cell])
    varier = build_varier(dm.splits, cfg.data)
    bs = cfg.data.batch_size
    fb = FactorBatches(varier, bs, list(cfg.data.factor_odds), seed=0, batches_per_epoch=a.steps + 5)
    batches = list(fb)
    g = torch.Generator().manual_seed(0)
    randoms = {}
    for size in sorted({32, 64, 128, a.size}):
        cfg.data.image_size = size
        r = source.renderer(cfg.data)
        f = torch.cat([r.sample_extrinsic(256, g), truncated_normal(256, r.k, g)], 1)
        r.render(f[:8])
        randoms[size] = (r, f)
    # one batch of each kind DC-IGN draws, at --size: pose (one face, bs views), light (one view, bs lights),
    # identity (bs faces at one view)
    f = randoms[a.size][1]
    face, view = f[:1, 3:].expand(bs, -1), f[:1, :2].expand(bs, -1)
    kinds = {"pose": torch.cat([f[:bs, :3], face], 1), "light": torch.cat([view, f[:bs, 2:3], face], 1),
             "identity": torch.cat([f[:1, :3].expand(bs, -1), f[:bs, 3:]], 1)}
    print(f"torch {torch.__version__}; training at {torch.get_num_threads()} thread(s), rendering at 1; load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}; {a.size} px, batch {bs}; medians of {a.repeats}")
    batch_rate, torch_rate, train_rate, random_rate = [], [], [], {s: [] for s in randoms}
    kind_rate = {k: [] for k in kinds}
    for _ in range(a.repeats):
        gb = torch.Generator().manual_seed(1)
        batch_rate.append(rate(lambda: [fb.draw(gb) for _ in range(a.batches)], a.batches * bs))
        # the same batches through the torch code (the compiled kernels' baseline; read on every call)
        with mock.patch.dict(os.environ, {"LIT_GEN_FACES_KERNEL": "torch"}):
            gb = torch.Generator().manual_seed(1)
            torch_rate.append(rate(lambda: [fb.draw(gb) for _ in range(a.batches)], a.batches * bs))
        for size, (r, f) in randoms.items():
            random_rate[size].append(rate(lambda: r.render(f), len(f)))
        for k, fk in kinds.items():
            kind_rate[k].append(rate(lambda: [randoms[a.size][0].render(fk) for _ in range(5)], 5 * bs))
        wall, _ = B.lightning_step(copy.deepcopy(model), batches, warmup=5)
        train_rate.append(bs / wall)
    fbr, tr = statistics.median(batch_rate), statistics.median(train_rate)
    print(f"{'what':<44} {'img/s':>8}")
    print(f"{'DC-IGN factor batches, 1 core':<44} {fbr:>8.0f}")
    tcr = statistics.median(torch_rate)
    print(f"{'the same, torch code (no compiled kernels)':<44} {tcr:>8.0f}   (compiled / torch: {fbr / tcr:.1f}x)")
    for size, rates in random_rate.items():
        print(f"{f'random faces at {size} px, 1 core':<44} {statistics.median(rates):>8.0f}")
    print(f"{'DC-IGN training consumption':<44} {tr:>8.0f}")
    print(f"ms per batch of {bs} at {a.size} px, 1 core: " + ", ".join(
        f"{k} {1000 * bs / statistics.median(v):.1f}" for k, v in kind_rate.items()))
    ratio = fbr / tr
    print(f"factor batches / consumption: {ratio:.1f}x (target >= 10x: {'met' if ratio >= 10 else 'NOT met'})")


if __name__ == "__main__":
    main()
