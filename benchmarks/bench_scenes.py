"""Render throughput of the ``scenes`` data set (images per second).

    python benchmarks/bench_scenes.py [--n 4000] [--repeats 3] [--threads N] [--build]

Prints, for 32 and 64 px, grey and RGB, plain and textured backgrounds, the
best of ``--repeats`` timings of ``render`` on ``--n`` freshly sampled scenes
(64 px uses n/2), as images per wall-clock second and per CPU second. With
``--build`` it also times ``build`` of the default data config (20k train +
2k test at 32 px grey), the cost paid once per run. On a shared machine use
``--threads 1`` and read the CPU-second column.
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--build", action="store_true")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
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
