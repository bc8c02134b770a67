"""Feature extractors for FID / IS / KID as torchmetrics calls them: the domain net, or Inception-v3.

Two sources, chosen by ``metrics.features``:

``domain`` (default)
    The project's classifier on the data set's own labels (:mod:`lit_gen.metrics.feature_net`, cached by
    :mod:`lit_gen.metrics.feature_cache`). Its numbers are comparable only to themselves: every logged key names
    the extractor (``fid_domain``).

``inception``
    The standard torch-fidelity Inception-v3 (pool3, 2048 features; unbiased logits for IS), built through
    torch-fidelity's public ``FeatureExtractorInceptionV3``. Needs ``torch-fidelity`` and the weights file
    ``pt_inception-2015-12-05-6726825d.pth`` (nothing is downloaded): pass ``metrics.inception_weights=PATH`` or
    put it in ``<cache>/weights/``. The file's SHA-256 is checked against torch-fidelity's. Images are resized to
    299 x 299 inside the network by torch-fidelity's TF1-compatible bilinear resize, as torch-fidelity's own FID
    does.

Every extractor carries ``id``, its name and a short hash of its weights (``domain:3fa2b1c09d8e``), which every
result records beside its numbers.

Both are wrapped as :class:`FeatureExtractor`, whose ``features_module()`` and ``logits_module()`` are the
``feature=`` modules handed to torchmetrics. They take float images in [0, 1] (or uint8), shape (N, C, H, W).
Inside :meth:`FeatureExtractor.one_batch` the backbone runs once per batch even though FID, KID and IS each call
it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from lit_gen.errors import UserError
from lit_gen.messages import say_on_stderr
from lit_gen.metrics.feature_cache import cache_root, ensure_domain_net, has_labels, load_domain_weights, net_config
from lit_gen.metrics.feature_net import HASH_CHARS, DomainNet

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
# torch-fidelity's (and pytorch-fid's) Inception-v3 FID weights; the file name carries its first 8 hex digits
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"


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
    """A backbone giving (features, logits) per image.

    FID, KID, precision/recall and IS each call their ``feature`` module on the same batch: inside
    :meth:`one_batch` the first call's result is kept for that tensor object, so one batch costs one backbone pass.
    Outside the block every call runs the backbone. Inputs: float (N, C, H, W) in [0, 1], or uint8.
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
        self._memo: Optional[list] = None  # inside one_batch: [] or [(imgs, out)]
        self.backbone.eval()

    def train(self, mode: bool = True):  # always in eval mode (BatchNorm statistics are frozen)
        return super().train(False)

    def prepare(self, imgs: torch.Tensor) -> torch.Tensor:
        x = imgs.float() / 255.0 if imgs.dtype == torch.uint8 else imgs.float()
        return x.clamp(0.0, 1.0)

    @contextlib.contextmanager
    def one_batch(self):
        """Within the block the caller feeds one batch, unchanged, to several metrics: the backbone runs once."""
        self._memo = []
        try:
            yield self
        finally:
            self._memo = None

    @torch.no_grad()
    def both(self, imgs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memo = self._memo
        if memo and memo[0][0] is imgs:
            return memo[0][1]
        out = self._forward_both(self.prepare(imgs))
        out = (out[0].float(), out[1].float())
        if memo is not None:
            memo[:] = [(imgs, out)]
        return out

    def features_module(self) -> nn.Module:
        return _Head(self, 0, self.num_features)

    def logits_module(self) -> nn.Module:
        return _Head(self, 1, self.num_classes)


def domain_extractor(net: DomainNet, meta: Optional[dict] = None) -> FeatureExtractor:
    return FeatureExtractor("domain", net, net.feat_dim, net.num_classes, info=meta)


# --------------------------------------------------------------------------- Inception-v3


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fidelity_available() -> bool:
    return importlib.util.find_spec("torch_fidelity") is not None


def inception_network(path: Path) -> nn.Module:
    """torch-fidelity's public Inception-v3 feature extractor from the weights file at ``path``; its
    ``forward(uint8 images)`` returns the 2048 pool3 features and the unbiased logits."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    return FeatureExtractorInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                       feature_extractor_weights_path=str(path))


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
    try:
        net = inception_network(path)
    except Exception as e:  # noqa: BLE001 - a wrong file is the user's mistake
        raise UserError(f"metrics.inception_weights={path}: could not load Inception-v3 weights "
                        f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})") from None
    net.eval()

    def forward_both(x: torch.Tensor):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # torchmetrics' own conversion for normalize=True: float [0, 1] -> uint8
        feats, logits = net((x * 255).byte())
        return feats.reshape(len(x), -1), logits.reshape(len(x), -1)

    return FeatureExtractor("inception", net, 2048, 1008, forward_both=forward_both,
                            info={"path": str(path), "sha256": digest})


# --------------------------------------------------------------------------- from config


def build_extractor(metrics_cfg, data_cfg, splits=None, echo: Callable[[str], None] = say_on_stderr,
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


def scoring_extractor(metrics_cfg, data_cfg, splits, echo: Callable[[str], None] = say_on_stderr,
                      progress: bool = True) -> Optional[FeatureExtractor]:
    """:func:`build_extractor` for a run or an evaluation on ``splits``: data without class labels has no domain
    net, so FID/IS/KID are skipped there (None, with one message) rather than refused."""
    if metrics_cfg.features == "domain" and not has_labels(splits.info):
        echo(f"metrics: data.name={data_cfg.name} has no class labels for the domain feature network, so "
             f"FID/IS/KID are skipped (blur is still measured); metrics.features=inception measures them")
        return None
    return build_extractor(metrics_cfg, data_cfg, splits=splits, echo=echo, progress=progress)
