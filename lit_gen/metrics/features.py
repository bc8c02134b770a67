"""Feature extractors for FID / IS / KID: the project's domain classifier, or Inception-v3.

Two sources, chosen by ``metrics.features``:

``domain`` (default)
    A small CNN classifier trained on the data set's own labels (MNIST digit,
    scenes shape class, ...). Its penultimate layer (``feat_dim`` ReLU units)
    gives the FID/KID features; its logits give IS. It is trained once per data
    set and cached under ``<cache>/features/<data.name>-<hash>.pt``, where the
    hash covers the data config (everything that changes the images or the
    split) and the network/training config. ``<cache>`` is ``metrics.cache_dir``,
    else ``$LIT_GEN_CACHE``, else ``~/.cache/lit_gen``. Train it ahead with
    ``python -m lit_gen.features --data mnist``; ``fit`` and ``evaluate`` train
    it automatically the first time it is missing. Its numbers are comparable
    only to themselves: every logged key names the extractor (``fid_domain``).
    It trains on one thread with a fixed seed, so every machine and thread
    count builds the same weights bit for bit; ``metrics.domain_weights=PATH``
    loads a given file instead (``python -m lit_gen.features --export PATH``
    writes one), so runs on many machines score with one net.

``inception``
    The standard torch-fidelity Inception-v3 (pool3, 2048 features; unbiased
    logits for IS). Needs ``torch-fidelity`` and the weights file
    ``pt_inception-2015-12-05-6726825d.pth`` (nothing is downloaded): pass
    ``metrics.inception_weights=PATH`` or put it in ``<cache>/weights/``. The
    file's SHA-256 is checked against torch-fidelity's. Images are resized to
    299 x 299 inside the network by torch-fidelity's TF1-compatible bilinear
    resize, as torch-fidelity's own FID does.

Every extractor carries ``id``, its name and a short hash of its weights
(``domain:3fa2b1c09d8e``), which every result records beside its numbers.

Both are wrapped as :class:`FeatureExtractor`, whose ``features_module()`` and
``logits_module()`` are the ``feature=`` modules handed to torchmetrics. They
take float images in [0, 1] (or uint8), shape (N, C, H, W), and run the
backbone once per batch even though FID, KID and IS each call it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn
from torch.nn import functional as F

from lit_gen.errors import UserError
from lit_gen.metrics.blur import gaussian_blur
from lit_gen.storage import torch_save_atomic

FEATURES_VERSION = 2  # bump when the network or training changes incompatibly
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
# torch-fidelity's (and pytorch-fid's) Inception-v3 FID weights; the file name carries its first 8 hex digits
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
HASH_CHARS = 12
CACHE_ENV = "LIT_GEN_CACHE"


def _stderr(msg: str) -> None:
    print(f"lit_gen: {msg}", file=sys.stderr, flush=True)


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "it", delay: float = 0.0):
    """A tqdm bar on stderr; in a log file (not a terminal) it updates every 10 s instead of 10 times a second."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, delay=delay, file=sys.stderr, unit=unit,
                dynamic_ncols=True, mininterval=0.1 if tty else 10.0)


# --------------------------------------------------------------------------- cache location


def cache_root(cache_dir: Optional[str] = None) -> Path:
    """``metrics.cache_dir``, else ``$LIT_GEN_CACHE``, else ``~/.cache/lit_gen``."""
    if cache_dir:
        return Path(str(cache_dir)).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "lit_gen"


# --------------------------------------------------------------------------- the domain classifier


@dataclass(frozen=True)
class DomainNetConfig:
    """Architecture and training of the domain classifier; part of the cache key."""

    widths: tuple = (16, 32, 64)
    feat_dim: int = 128
    epochs: int = 2
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_train: Optional[int] = None  # train on a fixed random subset of this many images (None: all)
    min_steps: int = 150  # small data sets get more epochs, so the net is never left barely trained
    seed: int = 0


class DomainNet(nn.Module):
    """conv-BN-ReLU blocks (max-pooled down to about 8x8), average-pooled to 4x4, ``feat_dim`` ReLU features, logits."""

    def __init__(self, channels: int, image_size: int, num_classes: int, widths=(16, 32, 64), feat_dim: int = 128):
        super().__init__()
        layers, c, size = [], channels, image_size
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < len(widths) - 1 and size > 8:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c = w
        pooled = min(4, size)  # keep a coarse layout: where strokes are matters, not only which
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(pooled), nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(c * pooled * pooled, feat_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(feat_dim, num_classes)
        self.channels, self.image_size, self.num_classes, self.feat_dim = channels, image_size, num_classes, feat_dim

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.fc(self.body(x))
        return f, self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_both(x)[1]


# --------------------------------------------------------------------------- the torchmetrics-facing wrapper


class _Head(nn.Module):
    """What torchmetrics calls: ``feature(imgs) -> (N, d)``; ``num_features`` sizes FID's states."""

    def __init__(self, extractor: "FeatureExtractor", index: int, num_features: int):
        super().__init__()
        self.extractor = extractor
        self.index = index
        self.num_features = num_features

    def forward(self, imgs: torch.Tensor) -> torch.Tensor:
        return self.extractor.both(imgs)[self.index]


class FeatureExtractor(nn.Module):
    """A backbone giving (features, logits) per image, with a one-batch memo.

    FID, KID and IS each call their ``feature`` module on the same batch; the
    memo (keyed on the tensor object and its version counter) makes that one
    backbone pass. Inputs: float (N, C, H, W) in [0, 1], or uint8.
    """

    def __init__(self, name: str, backbone: nn.Module, num_features: int, num_classes: int,
                 forward_both: Optional[Callable] = None, info: Optional[dict] = None):
        super().__init__()
        self.name = name
        self.backbone = backbone
        self.num_features = num_features
        self.num_classes = num_classes
        self._forward_both = forward_both or backbone.forward_both
        self.info = info or {}
        self.id = f"{name}:{self.info['sha256'][:HASH_CHARS]}" if self.info.get("sha256") else name
        self._memo = None
        self.backbone.eval()

    def train(self, mode: bool = True):  # always in eval mode (BatchNorm statistics are frozen)
        return super().train(False)

    def prepare(self, imgs: torch.Tensor) -> torch.Tensor:
        x = imgs.float() / 255.0 if imgs.dtype == torch.uint8 else imgs.float()
        return x.clamp(0.0, 1.0)

    @torch.no_grad()
    def both(self, imgs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memo = self._memo
        # an inference tensor (Lightning's test phase) has no version counter: the object alone keys the memo,
        # which SampleQuality clears after each batch
        version = -1 if imgs.is_inference() else imgs._version
        if memo is not None and memo[0] is imgs and memo[1] == version:
            return memo[2]
        out = self._forward_both(self.prepare(imgs))
        out = (out[0].float(), out[1].float())
        self._memo = (imgs, version, out)
        return out

    def clear(self) -> None:
        self._memo = None

    def features_module(self) -> nn.Module:
        return _Head(self, 0, self.num_features)

    def logits_module(self) -> nn.Module:
        return _Head(self, 1, self.num_classes)


def weights_sha256(net: nn.Module) -> str:
    """SHA-256 of a net's weights and buffers (names, shapes, dtypes and bytes, in state_dict order)."""
    h = hashlib.sha256()
    for key, value in net.state_dict().items():
        t = value.detach().cpu().contiguous()
        h.update(f"{key}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class one_thread:
    """torch on one intra-op thread inside the block: CPU kernels then sum in one order, so the weights a
    training makes do not depend on the machine's or the process's thread count."""

    def __enter__(self):
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.threads)


# --------------------------------------------------------------------------- cache key

DATA_KEYS = ("name", "root", "image_size", "channels", "val_fraction", "binarize")


def data_key(data_cfg) -> dict:
    """The parts of the data config that change the images, labels or split (``DATA_KEYS``, and the section of the
    source in use, e.g. ``data.sprites`` for ``data.name=sprites``)."""
    from omegaconf import DictConfig, OmegaConf

    full = OmegaConf.to_container(data_cfg, resolve=True) if isinstance(data_cfg, DictConfig) else dict(data_cfg)
    # a whitelist: keys that only change batching (batch_size, num_workers, factor batches, ...) keep the cache
    d = {k: full[k] for k in DATA_KEYS if k in full}
    name = d.get("name")
    if isinstance(full.get(name), dict):  # the source's own section; the other sources' do not matter
        d[name] = full[name]
    if name == "scenes":
        d.pop("root", None)  # procedural: no files
    elif d.get("root") is not None:
        d["root"] = str(Path(str(d["root"])).expanduser().resolve())
    if name != "binarized_mnist":
        d.pop("binarize", None)
    return d


def net_config(metrics_cfg=None) -> DomainNetConfig:
    if metrics_cfg is None:
        return DomainNetConfig()
    return DomainNetConfig(epochs=int(metrics_cfg.domain_epochs),
                           max_train=None if metrics_cfg.domain_max_train is None else int(metrics_cfg.domain_max_train))


def cache_path(data_cfg, net_cfg: DomainNetConfig, cache_dir: Optional[str] = None) -> Path:
    key = {"data": data_key(data_cfg), "net": asdict(net_cfg), "version": FEATURES_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=list).encode()).hexdigest()[:12]
    return cache_root(cache_dir) / "features" / f"{data_key(data_cfg).get('name', 'data')}-{digest}.pt"


# --------------------------------------------------------------------------- training


def _labelled(splits, data_name: str) -> None:
    info = splits.info
    if "label" not in info.keys or not info.num_classes:
        raise UserError(
            f"metrics.features=domain: data.name={data_name} has no class labels to train the feature network on; "
            f"use metrics.features=inception (with its weights) or metrics.features=none"
        )


def _loader(ds, batch_size: int, shuffle: bool, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g, num_workers=0)


@torch.no_grad()
def accuracy(net: nn.Module, ds, batch_size: int = 500) -> float:
    net.eval()
    correct = total = 0
    for batch in _loader(ds, batch_size, False, 0):
        pred = net(batch["image"].float()).argmax(1)
        correct += (pred == batch["label"].long()).sum().item()
        total += len(pred)
    return correct / max(total, 1)


def train_domain_net(splits, net_cfg: DomainNetConfig, progress: bool = True,
                     blur_augment: float = 0.0, make_net=None) -> tuple[nn.Module, float]:
    """Train the classifier on ``splits.train``; returns it (eval mode) and its test-split accuracy.

    Deterministic: a fixed seed, one thread (:class:`one_thread`), the CPU; the same weights bit for bit
    whatever the process's thread count.

    ``make_net(info)``: another classifier to train the same way (the judges of :mod:`lit_gen.metrics.judges`);
    built under ``net_cfg.seed`` like the default :class:`DomainNet`.

    ``blur_augment`` > 0: each training batch is blurred by a Gaussian of std drawn uniformly from
    [0, blur_augment] pixels, so the classifier reads shape rather than edge sharpness (the Attribute2Image
    judges' ``--judge-blur``; the cached FID feature nets never use it).
    """
    info = splits.info
    train_ds = splits.train
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(net_cfg.seed)
        if net_cfg.max_train is not None and net_cfg.max_train < len(train_ds):
            idx = torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(net_cfg.seed))[: net_cfg.max_train]
            train_ds = torch.utils.data.Subset(train_ds, idx.tolist())
        net = (DomainNet(info.channels, info.image_size, info.num_classes, net_cfg.widths, net_cfg.feat_dim)
               if make_net is None else make_net(info))
        opt = torch.optim.AdamW(net.parameters(), lr=net_cfg.lr, weight_decay=net_cfg.weight_decay)
        loader = _loader(train_ds, net_cfg.batch_size, True, net_cfg.seed)
        epochs = max(net_cfg.epochs, math.ceil(net_cfg.min_steps / max(1, len(loader))))
        steps = max(1, epochs * len(loader))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=net_cfg.lr, total_steps=steps, pct_start=0.15)
        bar = progress_bar(steps, f"domain features ({info.name})", progress, unit="step")
        net.train()
        for _ in range(epochs):
            for batch in loader:
                x = batch["image"].float()
                if blur_augment > 0:
                    sigma = float(torch.rand(())) * blur_augment
                    x = gaussian_blur(x, sigma) if sigma > 0.1 else x  # below 0.1 px the kernel is the identity
                loss = F.cross_entropy(net(x), batch["label"].long())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        bar.close()
    test_ds = splits.test if len(splits.test) else splits.val
    acc = accuracy(net, test_ds)
    net.eval()
    return net, acc


def _save(path: Path, net: DomainNet, payload: dict) -> None:
    torch_save_atomic({"state_dict": net.state_dict(), **payload}, path)


def _read(path: Path) -> tuple[DomainNet, dict]:
    """A saved domain net and its metadata, ``sha256`` (of the weights as loaded) and ``path`` added."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = DomainNet(blob["channels"], blob["image_size"], blob["num_classes"], tuple(blob["net"]["widths"]),
                    blob["net"]["feat_dim"])
    net.load_state_dict(blob["state_dict"])
    net.eval()
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    meta.update(sha256=weights_sha256(net), path=str(path))
    return net, meta


def _load(path: Path) -> Optional[tuple[DomainNet, dict]]:
    try:
        return _read(path)
    except Exception as e:  # noqa: BLE001 - a broken cache file is retrained, not fatal
        _stderr(f"ignoring unreadable feature cache {path} ({type(e).__name__}); retraining")
        return None


def load_domain_weights(path, info) -> tuple[DomainNet, dict]:
    """``metrics.domain_weights=PATH``: a net written by ``python -m lit_gen.features --export``, checked
    against the data (``info``: channels, image size, classes); a one-line UserError otherwise."""
    key = f"metrics.domain_weights={path}"
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise UserError(f"{key}: no such file; write one with python -m lit_gen.features --data NAME --export PATH")
    try:
        net, meta = _read(p)
    except Exception as e:  # noqa: BLE001 - the user's file: say what it is not
        raise UserError(f"{key}: not a lit_gen domain feature network ({type(e).__name__}); write one with "
                        f"python -m lit_gen.features --export PATH") from None
    have = (meta["channels"], meta["image_size"], meta["num_classes"])
    want = (info.channels, info.image_size, int(info.num_classes or 0))
    if have != want:
        raise UserError(f"{key}: made for channels/image_size/classes {have}, but data.name={info.name} has {want}")
    return net, meta


def ensure_domain_net(data_cfg, net_cfg: Optional[DomainNetConfig] = None, cache_dir: Optional[str] = None,
                      splits=None, echo: Callable[[str], None] = _stderr, progress: bool = True,
                      force: bool = False) -> tuple[DomainNet, dict]:
    """Load the cached domain classifier for this data config, training (and caching) it if missing.

    ``splits`` (already built data) saves building the data set again. Returns
    the net (eval mode) and its metadata (``test_accuracy``, ``path``, ...).
    """
    net_cfg = net_cfg or DomainNetConfig()
    path = cache_path(data_cfg, net_cfg, cache_dir)
    if path.is_file() and not force:
        loaded = _load(path)
        if loaded is not None:
            return loaded
    if splits is None:
        from lit_gen.data.datamodule import GenerativeDataModule

        dm = GenerativeDataModule(data_cfg)
        dm.setup("fit")
        splits = dm.splits
    name = splits.info.name
    _labelled(splits, name)
    n_train = len(splits.train) if net_cfg.max_train is None else min(net_cfg.max_train, len(splits.train))
    epochs = max(net_cfg.epochs, math.ceil(net_cfg.min_steps / max(1, math.ceil(n_train / net_cfg.batch_size))))
    echo(f"training the domain feature network for FID/IS/KID on {name} ({n_train} images, {epochs} "
         f"epochs; once, then cached at {path})")
    started = time.time()
    net, acc = train_domain_net(splits, net_cfg, progress=progress)
    meta = {
        "data": data_key(data_cfg), "net": {**asdict(net_cfg), "widths": list(net_cfg.widths)},
        "channels": splits.info.channels, "image_size": splits.info.image_size,
        "num_classes": int(splits.info.num_classes), "test_accuracy": float(acc),
        "train_seconds": round(time.time() - started, 1), "version": FEATURES_VERSION,
    }
    _save(path, net, meta)
    meta.update(sha256=weights_sha256(net), path=str(path))
    echo(f"domain feature network for {name}: test accuracy {100 * acc:.2f}% ({meta['train_seconds']:.0f}s, "
         f"weights {meta['sha256'][:HASH_CHARS]})")
    return net, meta


def domain_extractor(net: DomainNet, meta: Optional[dict] = None) -> FeatureExtractor:
    return FeatureExtractor("domain", net, net.feat_dim, net.num_classes, info=meta)


# --------------------------------------------------------------------------- Inception-v3


def _fidelity_available() -> bool:
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

    return bool(_TORCH_FIDELITY_AVAILABLE)


def inception_weights_path(weights: Optional[str], cache_dir: Optional[str] = None) -> Path:
    return Path(str(weights)).expanduser() if weights else cache_root(cache_dir) / "weights" / INCEPTION_FILE


def build_inception(weights: Optional[str] = None, cache_dir: Optional[str] = None) -> FeatureExtractor:
    """The torch-fidelity Inception-v3 from a local weights file (no download), or a one-line UserError."""
    path = inception_weights_path(weights, cache_dir)
    problems = []
    if not _fidelity_available():
        problems.append("torch-fidelity is not installed (pip install torch-fidelity)")
    digest = None
    if not path.is_file():
        where = f"metrics.inception_weights={weights}: no such file" if weights else f"no weights file at {path}"
        problems.append(f"{where}; put {INCEPTION_FILE} (the torch-fidelity Inception-v3 weights) there "
                        f"or pass metrics.inception_weights=PATH")
    elif (digest := file_sha256(path)) != INCEPTION_SHA256:
        problems.append(f"{path} has SHA-256 {digest[:16]}..., not torch-fidelity's {INCEPTION_SHA256[:16]}... "
                        f"({INCEPTION_FILE}), so its FID would not be Inception FID")
    if problems:
        raise UserError(f"metrics.features=inception: {'; '.join(problems)}; or use metrics.features=domain")
    from torchmetrics.image import fid as tm_fid

    try:
        net = tm_fid.NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                        feature_extractor_weights_path=str(path))
    except Exception as e:  # noqa: BLE001 - a wrong file is the user's mistake
        raise UserError(f"metrics.inception_weights={path}: could not load Inception-v3 weights "
                        f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})") from None

    def forward_both(x: torch.Tensor):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # torchmetrics' own conversion for normalize=True: float [0, 1] -> uint8
        feats, logits = net._torch_fidelity_forward((x * 255).byte())
        return feats.reshape(len(x), -1), logits.reshape(len(x), -1)

    return FeatureExtractor("inception", net, 2048, 1008, forward_both=forward_both,
                            info={"path": str(path), "sha256": digest})


# --------------------------------------------------------------------------- from config


def build_extractor(metrics_cfg, data_cfg, splits=None, echo: Callable[[str], None] = _stderr,
                    progress: bool = True) -> Optional[FeatureExtractor]:
    """The extractor ``metrics.features`` names (None for ``none``); trains the domain net if missing."""
    kind = metrics_cfg.features
    if kind == "none":
        return None
    if kind == "inception":
        return build_inception(metrics_cfg.inception_weights, metrics_cfg.cache_dir)
    if kind != "domain":
        raise UserError(f"metrics.features={kind!r}: choose one of domain, inception, none")
    if metrics_cfg.domain_weights:
        if splits is None:
            raise UserError("metrics.domain_weights: needs the data to check the file against")
        net, meta = load_domain_weights(metrics_cfg.domain_weights, splits.info)
        echo(f"domain features from {meta['path']} (weights {meta['sha256'][:HASH_CHARS]})")
        return domain_extractor(net, meta)
    net, meta = ensure_domain_net(data_cfg, net_config(metrics_cfg), metrics_cfg.cache_dir, splits=splits,
                                  echo=echo, progress=progress)
    return domain_extractor(net, meta)
