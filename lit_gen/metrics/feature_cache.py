"""Where the domain feature net is kept, and the one call that loads it or trains it once.

The net is cached under ``<cache>/features/<data.name>-<hash>.pt``, where the hash covers the data config
(everything that changes the images or the split) and the network/training config. ``<cache>`` is
``metrics.cache_dir``, else ``$LIT_GEN_CACHE``, else ``~/.cache/lit_gen``. ``python -m lit_gen.features`` trains
it ahead; ``fit`` and ``evaluate`` train it the first time it is missing. ``metrics.domain_weights=PATH`` loads a
given file instead (``python -m lit_gen.features --export PATH`` writes one), so runs on many machines score with
one net.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

import torch

from lit_gen.errors import UserError
from lit_gen.messages import say_on_stderr
from lit_gen.metrics.feature_net import HASH_CHARS, DomainNet, DomainNetConfig, weights_sha256
from lit_gen.metrics.feature_training import planned_epochs, train_domain_net
from lit_gen.storage import torch_save_atomic

FEATURES_VERSION = 2  # bump when the network or training changes incompatibly
CACHE_ENV = "LIT_GEN_CACHE"


def cache_root(cache_dir: Optional[str] = None) -> Path:
    """``metrics.cache_dir``, else ``$LIT_GEN_CACHE``, else ``~/.cache/lit_gen``."""
    if cache_dir:
        return Path(str(cache_dir)).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "lit_gen"


def data_key(data_cfg) -> dict:
    """The parts of the data config that change the images, labels or split: what the source in use declares
    (``Source.cache_key``); batching and the other sources' sections keep the cache."""
    from omegaconf import DictConfig, OmegaConf

    from lit_gen.data.sources import source

    full = OmegaConf.to_container(data_cfg, resolve=True) if isinstance(data_cfg, DictConfig) else dict(data_cfg)
    return source(full["name"]).cache_key(full)


def net_config(metrics_cfg=None) -> DomainNetConfig:
    if metrics_cfg is None:
        return DomainNetConfig()
    return DomainNetConfig(epochs=int(metrics_cfg.domain_epochs),
                           max_train=None if metrics_cfg.domain_max_train is None else int(metrics_cfg.domain_max_train))


def cache_path(data_cfg, net_cfg: DomainNetConfig, cache_dir: Optional[str] = None) -> Path:
    data = data_key(data_cfg)
    key = {"data": data, "net": asdict(net_cfg), "version": FEATURES_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=list).encode()).hexdigest()[:12]
    return cache_root(cache_dir) / "features" / f"{data.get('name', 'data')}-{digest}.pt"


def save_net(path: Path, net: DomainNet, payload: dict) -> None:
    torch_save_atomic({"state_dict": net.state_dict(), **payload}, path)


def read_net(path: Path) -> tuple[DomainNet, dict]:
    """A saved domain net and its metadata, ``sha256`` (of the weights as loaded) and ``path`` added."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = DomainNet(blob["channels"], blob["image_size"], blob["num_classes"], tuple(blob["net"]["widths"]),
                    blob["net"]["feat_dim"])
    net.load_state_dict(blob["state_dict"])
    net.eval()
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    meta.update(sha256=weights_sha256(net), path=str(path))
    return net, meta


def _load_cached(path: Path, echo: Callable[[str], None]) -> Optional[tuple[DomainNet, dict]]:
    try:
        return read_net(path)
    except Exception as e:  # noqa: BLE001 - a broken cache file is retrained, not fatal
        echo(f"ignoring unreadable feature cache {path} ({type(e).__name__}); retraining")
        return None


def load_domain_weights(path, info) -> tuple[DomainNet, dict]:
    """``metrics.domain_weights=PATH``: a net written by ``python -m lit_gen.features --export``, checked
    against the data (``info``: channels, image size, classes); a one-line UserError otherwise."""
    key = f"metrics.domain_weights={path}"
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise UserError(f"{key}: no such file; write one with python -m lit_gen.features --data NAME --export PATH")
    try:
        net, meta = read_net(p)
    except Exception as e:  # noqa: BLE001 - the user's file: say what it is not
        raise UserError(f"{key}: not a lit_gen domain feature network ({type(e).__name__}); write one with "
                        f"python -m lit_gen.features --export PATH") from None
    have = (meta["channels"], meta["image_size"], meta["num_classes"])
    want = (info.channels, info.image_size, int(info.num_classes or 0))
    if have != want:
        raise UserError(f"{key}: made for channels/image_size/classes {have}, but data.name={info.name} has {want}")
    return net, meta


def has_labels(info) -> bool:
    """Whether the data has the class labels the domain net trains on."""
    return "label" in info.keys and bool(info.num_classes)


def ensure_domain_net(data_cfg, net_cfg: Optional[DomainNetConfig] = None, cache_dir: Optional[str] = None,
                      splits=None, echo: Callable[[str], None] = say_on_stderr, progress: bool = True,
                      force: bool = False) -> tuple[DomainNet, dict]:
    """Load the cached domain classifier for this data config, training (and caching) it if missing.

    ``splits`` (already built data) saves building the data set again. Returns
    the net (eval mode) and its metadata (``test_accuracy``, ``path``, ...).
    """
    net_cfg = net_cfg or DomainNetConfig()
    path = cache_path(data_cfg, net_cfg, cache_dir)
    if path.is_file() and not force:
        loaded = _load_cached(path, echo)
        if loaded is not None:
            return loaded
    if splits is None:
        from lit_gen.data.datamodule import GenerativeDataModule

        dm = GenerativeDataModule(data_cfg)
        dm.setup("fit")
        splits = dm.splits
    name = splits.info.name
    if not has_labels(splits.info):
        raise UserError(
            f"metrics.features=domain: data.name={name} has no class labels to train the feature network on; "
            f"use metrics.features=inception (with its weights) or metrics.features=none"
        )
    n_train = len(splits.train) if net_cfg.max_train is None else min(net_cfg.max_train, len(splits.train))
    echo(f"training the domain feature network for FID/IS/KID on {name} ({n_train} images, "
         f"{planned_epochs(net_cfg, n_train)} epochs; once, then cached at {path})")
    started = time.time()
    net, acc = train_domain_net(splits, net_cfg, progress=progress)
    meta = {
        "data": data_key(data_cfg), "net": {**asdict(net_cfg), "widths": list(net_cfg.widths)},
        "channels": splits.info.channels, "image_size": splits.info.image_size,
        "num_classes": int(splits.info.num_classes), "test_accuracy": float(acc),
        "train_seconds": round(time.time() - started, 1), "version": FEATURES_VERSION,
    }
    save_net(path, net, meta)
    meta.update(sha256=weights_sha256(net), path=str(path))
    echo(f"domain feature network for {name}: test accuracy {100 * acc:.2f}% ({meta['train_seconds']:.0f}s, "
         f"weights {meta['sha256'][:HASH_CHARS]})")
    return net, meta
