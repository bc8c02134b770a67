"""Toy densities: mixtures of isotropic Gaussians in 1-D and 2-D (``toy1d``, ``ring8``, ``grid25``).

The 2-D sets are the mode-collapse benchmarks of the Unrolled-GAN, VEEGAN and
PacGAN papers: ``ring8`` has 8 modes on a circle of radius 2 (std 0.02),
``grid25`` a 5x5 grid at {-4, -2, 0, 2, 4}^2 (std 0.05). ``toy1d`` is the
lecture's 1-D picture of a generator pushed toward a data density.

Items are ``{"image": x}`` with x a float vector of shape (D,): the key is the
one every model reads its data from; ``SourceInfo.vector_dim`` tells models and
callbacks that x is not an image. Means, stds and weights come from
``data.toy``; null means the data set's own (``DEFAULTS``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lit_gen.bounds import bounded
from lit_gen.data.sources import Source
from lit_gen.errors import UserError

if TYPE_CHECKING:  # annotations only: a config check imports this module without torch
    import torch

    from lit_gen.data.sources.base import SourceInfo, Splits

TOY_DIMS = {"toy1d": 1, "ring8": 2, "grid25": 2}


def _ring(k: int = 8, radius: float = 2.0) -> list:
    return [[radius * math.cos(2 * math.pi * i / k), radius * math.sin(2 * math.pi * i / k)] for i in range(k)]


def _grid(side: int = 5, spacing: float = 2.0) -> list:
    start = -spacing * (side - 1) / 2
    return [[start + spacing * i, start + spacing * j] for i in range(side) for j in range(side)]


DEFAULTS = {
    # three unequal bumps, far enough apart that D(x) has visible structure between them
    "toy1d": {"means": [[-3.0], [0.0], [3.0]], "stds": 0.5, "weights": [0.25, 0.5, 0.25]},
    "ring8": {"means": _ring(), "stds": 0.02, "weights": None},
    "grid25": {"means": _grid(), "stds": 0.05, "weights": None},
}


@dataclass
class ToyConfig:
    """The toy densities (``data.name=toy1d|ring8|grid25``); null means/stds/weights: the data set's own."""

    means: Any = None  # list of points (K, D); 1-D may be a flat list. ring8: radius 2; grid25: {-4..4 step 2}^2
    stds: Any = None  # one std for all modes, or K of them. ring8: 0.02, grid25: 0.05, toy1d: 0.5
    weights: Any = None  # K mixture weights (normalised); null: equal
    num_train: int = bounded(20000, ge=1)  # train + val draws (split by data.val_fraction)
    num_test: int = bounded(2500, ge=1)
    seed: int = 1234  # the data set's own seed
    # mode-coverage protocol (VEEGAN): samples scored, and samples within 3 std a mode needs to count as covered
    eval_samples: int = bounded(2500, ge=1)
    min_count: int = bounded(1, ge=1)


@dataclass(frozen=True)
class Mixture:
    means: torch.Tensor  # (K, D)
    stds: torch.Tensor  # (K,)
    weights: torch.Tensor  # (K,), sums to 1

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        import torch

        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator)
        return self.means[k] + self.stds[k, None] * eps

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) for x (N, D), the mixture of isotropic Gaussians."""
        import torch

        d2 = (x[:, None, :] - self.means[None]).pow(2).sum(-1)  # (N, K)
        var = self.stds.pow(2)
        comp = -0.5 * d2 / var - 0.5 * self.dim * torch.log(2 * math.pi * var)
        return torch.logsumexp(comp + self.weights.log(), dim=1)


def _is_num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _plain(v):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def mixture_from_cfg(cfg) -> Mixture:
    """The mixture ``data.toy`` describes for ``data.name``; UserError naming the bad key."""
    import torch

    name = cfg.name
    if name not in TOY_DIMS:
        raise UserError(f"data.name={name!r}: not a toy density; choose one of {', '.join(TOY_DIMS)}")
    toy, dflt, dim = cfg.toy, DEFAULTS[name], TOY_DIMS[name]
    means = _plain(toy.means) if toy.means is not None else dflt["means"]
    if not isinstance(means, list) or not means:
        raise UserError(f"data.toy.means={means!r}: expected a non-empty list of {dim}-d points")
    means = [[m] if _is_num(m) and dim == 1 else m for m in means]  # 1-D may be written as [-3, 0, 3]
    if not all(isinstance(m, list) and len(m) == dim and all(_is_num(v) for v in m) for m in means):
        raise UserError(f"data.toy.means: data.name={name} needs a list of {dim}-d points (lists of {dim} numbers)")
    k = len(means)
    stds = _plain(toy.stds) if toy.stds is not None else dflt["stds"]
    stds = [stds] * k if _is_num(stds) else stds
    if not isinstance(stds, list) or len(stds) != k or not all(_is_num(s) and s > 0 for s in stds):
        raise UserError(f"data.toy.stds={stds!r}: expected one positive number, or {k} (one per mean)")
    weights = _plain(toy.weights) if toy.weights is not None else dflt["weights"]
    weights = [1.0] * k if weights is None else weights
    if (not isinstance(weights, list) or len(weights) != k or not all(_is_num(w) and w >= 0 for w in weights)
            or sum(weights) <= 0):
        raise UserError(f"data.toy.weights={weights!r}: expected {k} non-negative numbers (one per mean), not all 0")
    w = torch.tensor(weights, dtype=torch.float64)
    return Mixture(torch.tensor(means, dtype=torch.float32), torch.tensor(stds, dtype=torch.float32),
                   (w / w.sum()).float())


def info(cfg, mixture: Mixture) -> SourceInfo:
    from lit_gen.data.sources.base import SourceInfo

    return SourceInfo(name=cfg.name, channels=1, image_size=1, keys=frozenset({"image"}),
                      value_range=(float("-inf"), float("inf")), vector_dim=mixture.dim)


def build(cfg) -> Splits:
    """train/val: ``num_train`` draws split by ``val_fraction``; test: ``num_test`` draws from their own stream."""
    import torch

    from lit_gen.data.sources.base import Splits, TensorDictDataset, split_off_val

    mix = mixture_from_cfg(cfg)
    toy = cfg.toy
    train_all = mix.sample(toy.num_train, torch.Generator().manual_seed(toy.seed))
    test = mix.sample(toy.num_test, torch.Generator().manual_seed(toy.seed + 1))
    tr_idx, va_idx = split_off_val(toy.num_train, cfg.val_fraction, toy.seed)
    return Splits(
        train=TensorDictDataset({"image": train_all[tr_idx]}),
        val=TensorDictDataset({"image": train_all[va_idx]}),
        test=TensorDictDataset({"image": test}),
        info=info(cfg, mix),
    )


# the three densities share data.toy
SOURCES = tuple(Source(name, build, ToyConfig, section="toy", files=False) for name in TOY_DIMS)
