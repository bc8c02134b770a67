"""One LightningDataModule for every model; the source is chosen by ``data.name``."""

from __future__ import annotations

from typing import Optional

import lightning as L
import torch
from torch.utils.data import DataLoader

from lit_gen.data.sources import DATASETS
from lit_gen.data.sources.base import SourceInfo, Splits, TensorDictDataset
from lit_gen.errors import UserError


class GenerativeDataModule(L.LightningDataModule):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.splits: Optional[Splits] = None

    def setup(self, stage: Optional[str] = None) -> None:
        # idempotent: run.py calls it before the Trainer does, to learn the data's shape
        if self.splits is None:
            if self.cfg.name not in DATASETS:
                raise UserError(f"data.name={self.cfg.name!r}: unknown data set; choose one of {', '.join(sorted(DATASETS))}")
            self.splits = DATASETS[self.cfg.name](self.cfg)
            if len(self.splits.train) == 0:
                raise UserError(f"data.name={self.cfg.name}: the training split is empty")

    @property
    def info(self) -> SourceInfo:
        self.setup()
        return self.splits.info

    def _loader(self, ds, shuffle: bool, drop_last: bool = False) -> DataLoader:
        workers = self.cfg.num_workers
        return DataLoader(
            ds,
            batch_size=self.cfg.batch_size,
            shuffle=shuffle,
            drop_last=drop_last and len(ds) >= self.cfg.batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        if getattr(self.cfg, "factor_batches", False):  # DC-IGN: whole one-factor batches, per rank (no sampler)
            from lit_gen.data.factor_batches import factor_batches_loader

            return factor_batches_loader(self)
        # drop_last keeps BatchNorm statistics and per-batch losses on full batches
        return self._loader(self.splits.train, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, shuffle=False)

    def pixel_mean(self, max_items: int = 10000) -> torch.Tensor:
        """Mean training image (C, H, W) in [0, 1], from at most ``max_items`` images."""
        self.setup()
        ds = self.splits.train
        if isinstance(ds, TensorDictDataset) and ds.transform is None:
            imgs = ds.tensors["image"][:max_items].float()
            return imgs.mean(0) / (255.0 if ds.tensors["image"].dtype == torch.uint8 else 1.0)
        n = min(len(ds), max_items)
        return torch.stack([ds[i]["image"] for i in range(n)]).mean(0)

    def fixed_batch(self, n: int, split: str = "val") -> dict:
        """The first ``n`` items of a split, collated: the same images every epoch."""
        self.setup()
        ds = getattr(self.splits, split)
        items = [ds[i] for i in range(min(n, len(ds)))]
        return torch.utils.data.default_collate(items)
