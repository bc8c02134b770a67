"""The training loader's cost per batch against the least any loader could do, in one process.

    OMP_NUM_THREADS=1 python benchmarks/bench_loader.py [--config configs/vae_mnist.yaml] [--repeats 7] [key=value ...]
    (e.g. ``data.name=mnist`` for the grey levels of the pythae comparison)

* ``lit_gen``: one shuffled epoch of the data module's training loader (``GenerativeDataModule._loader``, the
  ``DataLoader`` with ``collate_items`` that ``train_dataloader`` builds on one process);
* ``slices``: the floor: one ``randperm`` per epoch, then per batch one indexing of the stored tensors and the same
  uint8 -> float conversion (and, for ``binarized_mnist``'s dynamic binarization, the same one Bernoulli draw), in a
  plain Python loop (no ``DataLoader``, no collate, no per-item anything).

CPU time of this process per batch, the two interleaved ``--repeats`` times; medians and lit_gen / slices.
The MLP VAE's training step is about 4 ms on this project's 2-vCPU machine, so 0.1 ms a batch is 2.5% of it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402


def epoch_lit(dm) -> tuple[float, int]:
    loader = dm._loader(dm.splits.train, shuffle=True, drop_last=True)
    t, n = time.process_time(), 0
    for _ in loader:
        n += 1
    return (time.process_time() - t) / n, n


def epoch_slices(tensors: dict, batch: int, draw: bool) -> tuple[float, int]:
    t, n = time.process_time(), 0
    total = len(next(iter(tensors.values())))
    perm = torch.randperm(total)
    for start in range(0, total - batch + 1, batch):
        idx = perm[start:start + batch]
        out = {k: v[idx] for k, v in tensors.items()}
        if out["image"].dtype == torch.uint8:
            out["image"] = out["image"].float().div_(255.0)
        if draw:
            out["image"] = torch.bernoulli(out["image"])
        n += 1
    return (time.process_time() - t) / n, n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/vae_mnist.yaml")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("overrides", nargs="*", help="config key=value")
    a = p.parse_args()
    torch.set_num_threads(1)
    from lit_gen.config import load_config
    from lit_gen.data.datamodule import GenerativeDataModule
    from lit_gen.errors import UserError

    try:
        cfg = load_config(str(REPO / a.config), a.overrides)
        if not Path(cfg.data.root).is_absolute():
            cfg.data.root = str((REPO / cfg.data.root).resolve())
        dm = GenerativeDataModule(cfg.data)
        dm.setup("fit")
    except UserError as e:
        sys.exit(f"error: {e}")
    train = dm.splits.train
    from lit_gen.data.sources.binarized_mnist import DynamicBinarizedDataset

    draw = isinstance(train, DynamicBinarizedDataset)
    tensors = {"image": train.images, "label": train.labels} if draw else getattr(train, "tensors", None)
    if tensors is None:
        sys.exit(f"{cfg.data.name}: the training split is a {type(train).__name__}, not stored tensors; "
                 "no slice floor to compare with")
    times = {"lit_gen": [], "slices": []}
    for _ in range(a.repeats):
        times["lit_gen"].append(epoch_lit(dm)[0])
        per, n = epoch_slices(tensors, cfg.data.batch_size, draw)
        times["slices"].append(per)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{cfg.data.name}, batch {cfg.data.batch_size}, {n} batches an epoch, {a.repeats} interleaved epochs each, "
          f"CPU ms per batch (median): lit_gen {med['lit_gen'] * 1e3:.3f}, slices {med['slices'] * 1e3:.3f}, "
          f"lit_gen / slices {med['lit_gen'] / med['slices']:.2f}")


if __name__ == "__main__":
    main()
