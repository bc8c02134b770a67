"""One LightningDataModule for every model; the source is chosen by ``data.name``."""

from __future__ import annotations

from typing import Optional

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler

from lit_gen.data.sources import source
from lit_gen.data.sources.base import SourceInfo, Splits, TensorDictDataset, collate_items
from lit_gen.errors import UserError
from lit_gen.spec import DataSpec


class _EpochSampler(DistributedSampler):
    """A shuffle seeded by (seed, epoch) that can start part-way through an epoch; under DDP each rank takes every
    ``world``-th item of the same order (the tail that does not divide evenly is dropped, as ``drop_last``).

    It draws nothing from the global RNG, so the model's own noise is the same with or without a resume. A
    ``DistributedSampler``, so Lightning keeps it instead of putting its own (not resumable) one in its place.
    """

    def __init__(self, n: int, seed: int, epoch_fn, rank: int = 0, world: int = 1):
        super().__init__(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.n, self.epoch_fn = n, epoch_fn
        self.skip = 0  # items of this rank's share to skip at the start of the next pass (a mid-epoch resume)

    def __len__(self) -> int:
        return self.n // self.num_replicas

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch_fn())
        order = torch.randperm(self.n, generator=g).tolist()[: len(self) * self.num_replicas]
        order = order[self.rank :: self.num_replicas]
        skip, self.skip = self.skip, 0
        return iter(order[skip:])


class ResumableLoader(DataLoader):
    """The training loader: Lightning saves its ``state_dict`` in checkpoints (fit loop's ``combined_loader``)
    and calls ``load_state_dict`` on resume, so a mid-epoch resume continues the epoch's data order exactly.

    ``progress_fn() -> (epoch, batches trained on in it so far, batches per epoch)``; a resumed epoch counts the
    batches it skipped too.
    """

    def __init__(self, *args, progress_fn=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.progress_fn = progress_fn
        self.resumed_at = (-1, 0)  # (epoch, batches skipped) of a mid-epoch resume

    def state_dict(self) -> dict:
        epoch, batches, per_epoch = self.progress_fn()
        batches += self.resumed_at[1] if self.resumed_at[0] == epoch else 0
        done = batches >= per_epoch  # an end-of-epoch save (also with trainer.limit_train_batches)
        return {"epoch": int(epoch), "batches": 0 if done else int(batches)}

    def load_state_dict(self, state: dict) -> None:
        batches = int(state.get("batches", 0))
        if 0 < batches < len(self):  # mid-epoch: skip the batches already trained on
            self.sampler.skip = batches * self.batch_size
            self.resumed_at = (int(state.get("epoch", 0)), batches)


class GenerativeDataModule(L.LightningDataModule):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.splits: Optional[Splits] = None
        self._trained = (-1, 0)  # (epoch, training batches moved to the device in it)

    def setup(self, stage: Optional[str] = None) -> None:
        # idempotent: run.py calls it before the Trainer does, to learn the data's shape
        if self.splits is None:
            self.splits = source(self.cfg.name).build(self.cfg)
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
            collate_fn=collate_items,
        )

    def train_dataloader(self) -> DataLoader:
        # DC-IGN's one-factor batches or Ada-GVAE's pairs: whole batches, per rank (no sampler)
        if getattr(self.cfg, "factor_batches", False) or getattr(self.cfg, "factor_pairs", 0):
            from lit_gen.data.factor_batches import factor_batches_loader

            return factor_batches_loader(self)
        # drop_last keeps BatchNorm statistics and per-batch losses on full batches
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return self._loader(self.splits.train, shuffle=True, drop_last=True)
        ds = self.splits.train
        seed = int(torch.initial_seed()) % (2**31)  # run.py seeds everything with cfg.seed before this
        sampler = _EpochSampler(len(ds), seed, lambda: trainer.current_epoch, trainer.global_rank, trainer.world_size)
        return ResumableLoader(ds, batch_size=self.cfg.batch_size, sampler=sampler,
                               drop_last=len(sampler) >= self.cfg.batch_size, num_workers=self.cfg.num_workers,
                               persistent_workers=self.cfg.num_workers > 0, collate_fn=collate_items,
                               generator=torch.Generator().manual_seed(seed),
                               progress_fn=lambda: (trainer.current_epoch, self._trained[1] if self._trained[0] ==
                                                    trainer.current_epoch else 0, trainer.num_training_batches))

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Counts the training batches of the current epoch (Lightning moves each one to the device just before its
        step), for the training loader's resumable state."""
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.training:
            epoch = trainer.current_epoch
            self._trained = (epoch, self._trained[1] + 1 if self._trained[0] == epoch else 1)
        return batch

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, shuffle=False)

    def spec(self) -> DataSpec:
        """What the model is told about the data (plain values; see ``lit_gen.spec``)."""
        info = self.info
        return DataSpec(channels=info.channels, image_size=info.image_size, keys=tuple(sorted(info.keys)),
                        binary=info.binary, num_classes=info.num_classes, factor_names=tuple(info.factor_names),
                        attribute_names=tuple(info.attribute_names), pixel_mean=self.pixel_mean().flatten().tolist(),
                        vector_dim=info.vector_dim, factor_groups=self.factor_groups(), train_size=len(self.splits.train))

    def factor_groups(self) -> tuple:
        """((group, (factor, ...)), ...): the groups a factor batch or pair varies; () without factors."""
        info = self.info
        if "factors" not in info.keys:
            return ()
        from lit_gen.data.factor_batches import default_groups

        groups = dict(info.factor_groups) or default_groups(info.factor_names)
        return tuple((g, tuple(names)) for g, names in groups.items())

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
