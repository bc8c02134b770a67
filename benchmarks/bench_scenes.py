"""Render throughput of the ``scenes`` data set (images per second).

    python benchmarks/bench_scenes.py [--n 4000] [--repeats 3] [--threads N] [--build]

Prints, for 32 and 64 px, grey and RGB, plain and textured backgrounds, the
best of ``--repeats`` timings of ``render`` on ``--n`` freshly sampled scenes
(64 px uses n/2), as images per wall-clock second and per CPU second. With
``--build`` it also times ``build`` of the default data config (20k train +
2k test at 32 px grey), the cost paid once per run. On a shared machine use
``--threads 1`` and read the CPU-second column.

``--vs-gan``: at 32 and 64 px, the data side of the default GAN run
(configs/gan.yaml: grey, plain background, batch 64) against the rate at which that GAN consumes
images, and their ratio (target >= 10x). Data side: (a) the renderer (images/s of ``render``,
what ``build`` pays once per run and DC-IGN's factor batches pay per step) and (b) the training
loader over the rendered uint8 split (images/s of batches from ``GenerativeDataModule``'s loader,
what every step waits on). GAN side: images/s of training steps of lit_gen's DCGAN at that size
through ``lightning.Trainer`` on batches held in memory (benchmarks/bench_overhead.py's ``lightning``
variant). The three are measured in turn, ``--repeats`` times, in one process; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from lit_gen.config.schema import DataConfig  # noqa: E402
from lit_gen.data import scenes as S  # noqa: E402
from lit_gen.data.sources import scenes as source  # noqa: E402


def bench(n: int, size: int, channels: int, background: str, repeats: int) -> tuple:
    """(images per wall-clock second, images per CPU second), best of ``repeats``."""
    f = S.sample_factors(n, torch.Generator().manual_seed(0))
    S.render(S.select(f, slice(0, 16)), size, channels, background)  # warm-up
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        S.render(f, size, channels, background)
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return n / wall, n / cpu


def loader_rate(dm, batches: int) -> float:
    """Images per second of shuffled training batches from the data module's loader (uint8 split -> float)."""
    loader = dm._loader(dm.splits.train, shuffle=True, drop_last=True)
    n, t = 0, time.perf_counter()
    for i, b in enumerate(loader):
        n += b["image"].shape[0]
        if i + 1 == batches:
            break
    return n / (time.perf_counter() - t)


def vs_gan(a) -> None:
    import copy
    import statistics
    import warnings

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_overhead as B

    warnings.filterwarnings("ignore")
    import logging

    import lightning  # noqa: F401  (imported first: it sets its loggers' levels on import)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}; medians of {a.repeats}")
    rows = []
    for size in (32, 64):
        # the default GAN config at this size; a smaller training split only to keep the setup short
        cfg, dm, model = B.load("gan", [f"data.image_size={size}", "data.scenes.num_train=4000",
                                        "data.scenes.num_test=200"])
        sc = cfg.data
        batches = B.preload(dm, a.gan_steps)
        bs = batches[0]["image"].shape[0]
        f = S.sample_factors(2000, torch.Generator().manual_seed(0))
        S.render(S.select(f, slice(0, 16)), size, sc.channels, sc.scenes.background)
        render, load, gan = [], [], []
        for _ in range(a.repeats):
            t = time.perf_counter()
            S.render(f, size, sc.channels, sc.scenes.background)
            render.append(2000 / (time.perf_counter() - t))
            load.append(loader_rate(dm, 50))
            gan.append(bs / B.lightning_step(copy.deepcopy(model), batches, warmup=5)[0])  # wall clock, like the others
        r, l, g = (statistics.median(x) for x in (render, load, gan))
        rows.append((size, sc.channels, sc.scenes.background, r, l, g))
    print(f"{'size':>4} {'ch':>2} {'background':>10} {'render img/s':>12} {'loader img/s':>12} {'GAN img/s':>9} "
          f"{'render/GAN':>10} {'loader/GAN':>10}")
    for size, ch, bg, r, l, g in rows:
        print(f"{size:>4} {ch:>2} {bg:>10} {r:>12.0f} {l:>12.0f} {g:>9.0f} {r / g:>9.1f}x {l / g:>9.1f}x")
    worst = min(min(r, l) / g for *_, r, l, g in rows)
    print(f"target data >= 10x GAN consumption: {'met' if worst >= 10 else 'NOT met'} (worst {worst:.1f}x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--build", action="store_true")
    p.add_argument("--vs-gan", action="store_true", help="only the data-vs-GAN comparison at 32 and 64 px")
    p.add_argument("--gan-steps", type=int, default=25)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.vs_gan:
        vs_gan(a)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, n={a.n}, best of {a.repeats}")
    print("images/s: wall clock; images/CPU-s: per second of this process's CPU time, which")
    print("a busy machine hardly changes (with one thread it is the uncontended rate)")
    print(f"{'size':>5} {'channels':>8} {'background':>10} {'images/s':>10} {'images/CPU-s':>13}")
    for size in (32, 64):
        n = a.n if size <= 32 else max(1, a.n // 2)
        for channels in (1, 3):
            for background in S.BACKGROUNDS:
                wall, cpu = bench(n, size, channels, background, a.repeats)
                print(f"{size:>5} {channels:>8} {background:>10} {wall:>10.0f} {cpu:>13.0f}")
    if a.build:
        cfg = DataConfig()
        t, c = time.perf_counter(), time.process_time()
        s = source.build(cfg)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        n = len(s.train) + len(s.val) + len(s.test)
        print(
            f"build(default DataConfig): {n} scenes at {cfg.image_size} px, {cfg.channels} ch "
            f"in {dt:.2f} s wall, {dc:.2f} s CPU (renders single-threaded)"
        )


if __name__ == "__main__":
    main()
