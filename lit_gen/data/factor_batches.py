"""Factor-clamped minibatches (DC-IGN, Kulkarni et al. 2015): in each batch only one factor group varies.

Each batch (a dict of tensors, already collated) holds ``image`` (N, C, H, W),
``factors`` (N, F) and ``varied`` (N,) long: the index of the varied group in
``FactorBatches.groups`` (the same value for every item). A batch is made by

1. picking one factor group with the configured odds (DC-IGN: azimuth :
   elevation : light : intrinsic = 1 : 1 : 1 : 10),
2. drawing one base scene (a random item of the training split),
3. making ``batch_size`` variations of it in which only that group changes.

Step 3 comes from a *varier*, so the same sampler serves any source that
exposes factors:

- :class:`RenderedVarier` renders the variations on the fly (the procedural
  ``scenes`` and the ``faces``, through :mod:`lit_gen.data.renderers`:
  continuous factors, so no two stored items ever share all the other factors);
- :class:`PoolVarier` picks them from a stored pool (any data set whose
  ``factors`` lie on a grid, dSprites-style): the items that agree with the
  base on every factor outside the group.

Ada-GVAE (Locatello et al. 2020) trains on *pairs* from the same varier: with
``pair_groups=k`` a batch is ``batch_size / 2`` pairs, items 2i and 2i+1, each a
variation of size two of its own base with k groups (drawn at random per pair)
varied together; the batch then carries no ``varied`` key.

DDP: :class:`FactorBatches` is an ``IterableDataset`` that yields WHOLE batches
(use it with ``DataLoader(batch_size=None)``). Lightning never injects a
``DistributedSampler`` into an iterable data set, so no batch is ever split
across ranks: each rank (and each loader worker) draws its own whole batches
from its own seed, ``(seed, rank, worker, epoch)``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch.utils.data import IterableDataset, get_worker_info



def default_groups(factor_names: Sequence[str]) -> dict:
    """DC-IGN's factor groups for a source's factors.

    The scenes' extrinsic factors (azimuth, elevation, light) each form a group;
    everything else is ``intrinsic``. A source without those names: its first
    three factors are the single groups and the rest is intrinsic.
    """
    names = tuple(factor_names)
    single = [n for n in ("azimuth", "elevation", "light") if n in names]
    if not single:
        single = list(names[:3])
    groups = {n: (n,) for n in single}
    rest = tuple(n for n in names if n not in groups)
    if rest:
        groups["intrinsic"] = rest
    return groups


class RenderedVarier:
    """Variations rendered on the fly by a factor renderer (:mod:`lit_gen.data.renderers`: scenes, faces).

    ``factors``: (M, F) tensor of the base pool (the training split's factors,
    in ``renderer.factor_names`` order).
    """

    def __init__(self, factors: torch.Tensor, renderer, groups: Optional[dict] = None):
        self.factors = factors.float()
        self.renderer = renderer
        self.factor_names = tuple(renderer.factor_names)
        self.groups = dict(groups or default_groups(self.factor_names))

    def __len__(self) -> int:
        return len(self.factors)

    def make(self, base_index: int, names: Sequence[str], n: int, generator: torch.Generator) -> dict:
        """``n`` variations of base item ``base_index`` in which the factors ``names`` change."""
        f = self.renderer.vary(self.factors[base_index], tuple(names), n, generator)
        images, _ = self.renderer.render(f, generator)
        return {"image": images, "factors": f}

    def render(self, factors: torch.Tensor) -> torch.Tensor:
        """Images for a (N, F) factor tensor (the scenes: plain or default-textured background)."""
        return self.renderer.render(factors)[0]


class PoolVarier:
    """Variations picked from a stored data set whose ``factors`` lie on a grid.

    For a base item and a group, the candidates are the items that agree with
    the base on every factor outside the group; ``n`` of them are drawn (with
    replacement when there are fewer than ``n``).
    """

    def __init__(self, dataset, factor_names: Sequence[str], groups: Optional[dict] = None):
        self.dataset = dataset
        self.factors = dataset_factors(dataset).float()
        self.factor_names = tuple(factor_names)
        self.groups = dict(groups or default_groups(self.factor_names))
        self._index = {}  # varied factor names -> the items grouped by their other factors

    def __len__(self) -> int:
        return len(self.factors)

    def _members(self, names: tuple):
        if names not in self._index:
            keep = [j for j, n in enumerate(self.factor_names) if n not in names]
            keys = self.factors[:, keep]
            uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
            order = torch.argsort(inverse, stable=True)
            counts = torch.bincount(inverse, minlength=len(uniq))
            self._index[names] = (inverse, order, torch.cumsum(counts, 0) - counts, counts)
        return self._index[names]

    def make(self, base_index: int, names: Sequence[str], n: int, generator: torch.Generator) -> dict:
        """``n`` stored items that agree with base item ``base_index`` on every factor outside ``names``."""
        inverse, order, starts, counts = self._members(tuple(sorted(names)))
        key = int(inverse[base_index])
        members = order[int(starts[key]) : int(starts[key] + counts[key])]
        if len(members) >= n:
            pick = members[torch.randperm(len(members), generator=generator)[:n]]
        else:
            pick = members[torch.randint(len(members), (n,), generator=generator)]
        items = fetch(self.dataset, pick.tolist())
        return {"image": torch.stack([it["image"] for it in items]), "factors": self.factors[pick].clone()}


def dataset_factors(dataset) -> torch.Tensor:
    """The (N, F) factors of a map-style data set: its ``factors`` or ``tensors["factors"]``, else item by item."""
    factors = getattr(dataset, "factors", None)
    if isinstance(factors, torch.Tensor):
        return factors
    tensors = getattr(dataset, "tensors", None)
    if tensors is not None and "factors" in tensors:
        return tensors["factors"]
    return torch.stack([dataset[i]["factors"] for i in range(len(dataset))])


def fetch(dataset, indices: list) -> list:
    """Items ``indices``, in one batched call where the data set has ``__getitems__`` (the grid renders them at once)."""
    many = getattr(dataset, "__getitems__", None)
    return many(indices) if many is not None else [dataset[i] for i in indices]


class FactorBatches(IterableDataset):
    """Whole factor-clamped batches, ``batches_per_epoch`` per pass (per rank and worker share).

    ``odds``: one weight per group, in ``varier.groups`` order. ``pair_groups`` > 0: batches of pairs (Ada-GVAE)
    that differ in that many groups, drawn uniformly without replacement (``odds`` then unused). ``rank`` and
    ``world_size`` default to ``torch.distributed``'s when it is initialised.
    """

    def __init__(self, varier, batch_size: int, odds: Sequence[float], seed: int = 0,
                 batches_per_epoch: Optional[int] = None, rank: Optional[int] = None, world_size: Optional[int] = None,
                 pair_groups: int = 0):
        self.varier = varier
        self.pair_groups = int(pair_groups)
        if self.pair_groups and (batch_size % 2 or not 1 <= self.pair_groups <= len(varier.groups)):
            raise ValueError(f"pairs need an even batch size (got {batch_size}) and 1..{len(varier.groups)} varied "
                             f"groups (got {pair_groups})")
        self.groups = tuple(varier.groups)
        if len(odds) != len(self.groups):
            raise ValueError(f"odds {list(odds)} must have one weight per group {list(self.groups)}")
        if any(o < 0 for o in odds) or sum(odds) <= 0:
            raise ValueError(f"odds {list(odds)} must be >= 0 and not all 0")
        self.odds = torch.tensor([float(o) for o in odds])
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.batches_per_epoch = int(batches_per_epoch or max(1, len(varier) // self.batch_size))
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _dist(self) -> tuple[int, int]:
        if self.rank is not None:
            return int(self.rank), int(self.world_size or 1)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self):
        rank, _ = self._dist()
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        g = torch.Generator().manual_seed(hash((self.seed, rank, wid, self.epoch)) & ((1 << 63) - 1))
        self.epoch += 1  # a new stream on the next pass, also where nobody calls set_epoch
        count = len(range(wid, self.batches_per_epoch, nw))
        for _ in range(count):
            yield self.draw(g)

    def draw(self, g: torch.Generator) -> dict:
        if self.pair_groups:
            return self.draw_pairs(g)
        k = int(torch.multinomial(self.odds, 1, generator=g))
        base = int(torch.randint(len(self.varier), (1,), generator=g))
        batch = self.varier.make(base, self.varier.groups[self.groups[k]], self.batch_size, g)
        batch["varied"] = torch.full((self.batch_size,), k, dtype=torch.long)
        return batch

    def draw_pairs(self, g: torch.Generator) -> dict:
        pairs = []
        for _ in range(self.batch_size // 2):
            chosen = torch.randperm(len(self.groups), generator=g)[: self.pair_groups].tolist()
            names = tuple(n for k in sorted(chosen) for n in self.varier.groups[self.groups[k]])
            base = int(torch.randint(len(self.varier), (1,), generator=g))
            pairs.append(self.varier.make(base, names, 2, g))
        return {key: torch.cat([p[key] for p in pairs]) for key in pairs[0]}


def build_varier(splits, cfg_data):
    """The varier for a source: rendered for a rendered source (scenes, faces), pooled for a stored one with factors
    and for a grid (sprites: its items are the grid, so a variation is a stored item)."""
    from lit_gen.data.renderers import factor_renderer
    from lit_gen.errors import UserError

    info = splits.info
    if "factors" not in info.keys:
        raise UserError(f"data.name={info.name} has no factors; DC-IGN's factor batches and Ada-GVAE's pairs need "
                        "them (use data.name=scenes, faces or sprites)")
    train = splits.train
    groups = dict(info.factor_groups) or None
    if info.pooled:
        return PoolVarier(train, info.factor_names, groups)
    renderer = factor_renderer(cfg_data, info.name, training=True)
    if renderer is not None:
        return RenderedVarier(dataset_factors(train), renderer, groups)
    return PoolVarier(train, info.factor_names, groups)


def factor_batches_loader(dm) -> "torch.utils.data.DataLoader":
    """The training loader of ``GenerativeDataModule`` when ``data.factor_batches`` or ``data.factor_pairs`` is on.

    ``batch_size=None``: the data set yields whole batches, so nothing (no
    DistributedSampler, no collate) splits or regroups them. Each rank seeds its
    own stream from the training seed (``torch.initial_seed()``, set by
    ``seed_everything``) and its rank.
    """
    from torch.utils.data import DataLoader

    from lit_gen.data.sources import default_odds
    from lit_gen.errors import UserError

    cfg = dm.cfg
    varier = build_varier(dm.splits, cfg)
    odds = list(cfg.factor_odds) if cfg.factor_odds is not None else list(default_odds(dm.info.name, varier.groups))
    if len(varier.groups) != len(odds):
        raise UserError(f"data.factor_odds={odds}: needs one weight per factor group ({', '.join(varier.groups)})")
    if cfg.factor_pairs > len(varier.groups):
        raise UserError(f"data.factor_pairs={cfg.factor_pairs}: data.name={dm.info.name} has only "
                        f"{len(varier.groups)} factor groups ({', '.join(varier.groups)})")
    trainer = getattr(dm, "trainer", None)
    rank = trainer.global_rank if trainer is not None else None
    world = trainer.world_size if trainer is not None else None
    per_rank = max(1, len(varier) // (cfg.batch_size * (world or 1)))  # an epoch sees about the split's size
    ds = FactorBatches(varier, cfg.batch_size, odds, seed=torch.initial_seed(), batches_per_epoch=per_rank,
                       rank=rank, world_size=world, pair_groups=cfg.factor_pairs)
    workers = cfg.num_workers
    return DataLoader(ds, batch_size=None, num_workers=workers, persistent_workers=workers > 0)
