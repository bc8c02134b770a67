"""FID / IS / KID (torchmetrics) on one feature extractor, plus blurriness, for any generative model.

Only the generative protocol is used: ``model.sample(n, generator)`` and
``model.reconstruct(x)``, both images in [0, 1]. So the same code measures a
VAE's samples and reconstructions and a GAN's samples.

Keys (``prefix`` is ``val`` during fit, ``test`` in ``evaluate``; ``X`` is the
extractor, ``domain`` or ``inception``, so numbers from different extractors
never share a key)::

    {prefix}/fid_X  {prefix}/fid_X_n  {prefix}/fid_X_n_real   FID; N generated, N real
    {prefix}/is_X   {prefix}/is_X_std                          Inception Score over 10 splits
    {prefix}/kid_X  {prefix}/kid_X_std                         KID (subsets of min(1000, N))
    {prefix}/precision_X  {prefix}/recall_X                    improved precision / recall (k = pr_k, 3)
    {prefix}/density_X  {prefix}/coverage_X                    density / coverage (k = dc_k, 5)
    {prefix}/blur   {prefix}/blur_real  {prefix}/blur_ratio    Laplacian variance; samples / real
    {prefix}/blur_recon  {prefix}/blur_ratio_recon             reconstructions of the real set / real

Real statistics are accumulated once (``reset_real_features=False``) and kept
across calls; :meth:`SampleQuality.reset_fake` clears only the generated side.
Under DDP each rank updates with its own shard and every rank must call
:meth:`SampleQuality.compute` (torchmetrics syncs the states inside compute;
calling it on rank 0 only hangs: the other ranks wait in its all-gather).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Optional

import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from lit_gen.metrics.blur import Blurriness
from lit_gen.metrics.feature_cache import cache_root, data_key
from lit_gen.metrics.feature_extractor import FeatureExtractor
from lit_gen.metrics.fp32 import full_precision
from lit_gen.metrics.prdc import DC_K, PR_K, PrecisionRecall
from lit_gen.metrics.tqdm_bar import progress_bar
from lit_gen.storage import torch_save_atomic

# the real side of each metric: what a reference-statistics file holds (lists are stored concatenated)
REAL_STATES = {"fid": ("real_features_sum", "real_features_cov_sum", "real_features_num_samples"),
               "kid": ("real_features",), "prdc": ("real_features",), "blur_real": ("total", "count")}
MEASURE_BATCH = 250  # samples per model.sample call in measure(): with the seed, this fixes the samples drawn
KID_SUBSET_SIZE = 1000
KID_SUBSETS = 100
IS_SPLITS = 10


class SampleQuality:
    """The metric objects of one run; real-data statistics persist across :meth:`reset_fake`."""

    def __init__(self, extractor: Optional[FeatureExtractor], seed: int = 0, kid_subsets: int = KID_SUBSETS,
                 kid_subset_size: int = KID_SUBSET_SIZE, is_splits: int = IS_SPLITS, pr_k: int = PR_K,
                 dc_k: int = DC_K):
        self.extractor = extractor
        self.seed = seed
        self.kid_subset_size = kid_subset_size
        self.is_splits = is_splits
        self.real_done = False
        self.n_real = 0  # global count, set by whoever fed the real set
        self.has_recon = False
        self.reference_cache: Optional[Path] = None  # a file of the real statistics (see reference_path)
        self.blur_real, self.blur_fake, self.blur_recon = Blurriness(), Blurriness(), Blurriness()
        self.fid = self.inception_score = self.kid = self.prdc = None
        if extractor is not None:
            with warnings.catch_warnings():
                # IS/KID keep every feature vector (N x d); with d <= 2048 and N ~ 10^4 that is tens of MB
                warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
                # normalize=True: our inputs are floats in [0, 1] (for a custom `feature` module FID/KID pass
                # them on unchanged; the extractor itself handles float or uint8)
                self.fid = FrechetInceptionDistance(feature=extractor.features_module(), reset_real_features=False,
                                                    normalize=True)
                self.kid = KernelInceptionDistance(feature=extractor.features_module(), reset_real_features=False,
                                                   normalize=True, subsets=kid_subsets, subset_size=kid_subset_size)
                # normalize=False: InceptionScore would byte-cast even for a custom module
                self.inception_score = InceptionScore(feature=extractor.logits_module(), splits=is_splits,
                                                      normalize=False)
            self.prdc = PrecisionRecall(feature=extractor.features_module(), pr_k=pr_k, dc_k=dc_k,
                                        reset_real_features=False)

    @classmethod
    def from_config(cls, extractor: Optional[FeatureExtractor], metrics_cfg, seed: int, test_of=None,
                    n: int = 0) -> "SampleQuality":
        """The metric objects that ``metrics.*`` configures. ``test_of`` (a data config) with ``n``: the real side
        is ``n`` test images of that data, whose statistics are cached on disk (:func:`reference_path`)."""
        m = metrics_cfg
        quality = cls(extractor, seed=int(seed), kid_subsets=int(m.kid_subsets), pr_k=int(m.pr_k), dc_k=int(m.dc_k))
        if test_of is not None and extractor is not None:
            quality.reference_cache = reference_path(cache_root(m.cache_dir), data_key(test_of), "test", extractor.id,
                                                     n, int(seed))
        return quality

    @property
    def name(self) -> Optional[str]:
        return None if self.extractor is None else self.extractor.name

    def metrics(self) -> list:
        return [m for m in (self.fid, self.kid, self.inception_score, self.prdc, self.blur_real, self.blur_fake,
                            self.blur_recon) if m is not None]

    def to(self, device) -> "SampleQuality":
        for m in self.metrics():
            m.to(device)
        return self

    # --- the real statistics on disk ------------------------------------------------
    def save_real(self, path: Path) -> None:
        blob = {"n_real": self.n_real}
        for name, attrs in REAL_STATES.items():
            m = getattr(self, name)
            if m is not None:
                for a in attrs:
                    v = getattr(m, a)
                    blob[f"{name}.{a}"] = (torch.cat(v) if v else torch.zeros(0)).cpu() if isinstance(v, list) else v.cpu()
        torch_save_atomic(blob, path)

    def load_real(self, path: Path) -> bool:
        """The real statistics from ``path``; False (and nothing changed) when it is missing or unreadable."""
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            for name, attrs in REAL_STATES.items():
                m = getattr(self, name)
                if m is not None:
                    for a in attrs:
                        blob[f"{name}.{a}"]  # noqa: B018 - every state present, or none is loaded
        except Exception:  # noqa: BLE001 - a bad cache file is recomputed
            return False
        for name, attrs in REAL_STATES.items():
            m = getattr(self, name)
            if m is not None:
                for a in attrs:
                    v = blob[f"{name}.{a}"].to(m.device)
                    setattr(m, a, [v] if isinstance(getattr(m, a), list) else v)
        self.real_done, self.n_real = True, int(blob["n_real"])
        return True

    # --- updates (per rank, on that rank's shard) ----------------------------------
    @torch.no_grad()
    @full_precision()
    def update_real(self, images: torch.Tensor) -> None:
        images = images.float().clamp(0, 1)
        self.blur_real.update(images)
        if self.fid is not None:
            with self.extractor.one_batch():
                self.fid.update(images, real=True)
                self.kid.update(images, real=True)
                if self.prdc is not None:
                    self.prdc.update(images, real=True)

    @torch.no_grad()
    @full_precision()
    def update_fake(self, images: torch.Tensor) -> None:
        images = images.float().clamp(0, 1)
        self.blur_fake.update(images)
        if self.fid is not None:
            with self.extractor.one_batch():
                self.fid.update(images, real=False)
                self.kid.update(images, real=False)
                if self.prdc is not None:
                    self.prdc.update(images, real=False)
                self.inception_score.update(images)

    @torch.no_grad()
    @full_precision()
    def update_recon(self, images: torch.Tensor) -> None:
        self.has_recon = True
        self.blur_recon.update(images.float().clamp(0, 1))

    # --- results (call on ALL ranks) -----------------------------------------------
    @torch.no_grad()
    @full_precision()
    def compute(self, prefix: str, n_fake: int, n_real: Optional[int] = None) -> dict:
        """Every value as a float; ``n_fake``/``n_real`` are the global counts (for logging and KID)."""
        n_real = self.n_real if n_real is None else n_real
        out = {}
        # IS and KID draw random permutations: a fixed seed makes them reproducible and equal on every
        # rank, and forking the RNG leaves the training's random stream untouched
        with torch.random.fork_rng(devices=_cuda_devices(self.metrics())), warnings.catch_warnings():
            # real statistics read from a reference file were never fed through update(): torchmetrics warns
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method.*")
            torch.manual_seed(self.seed)
            if self.fid is not None and min(n_fake, n_real) >= 2:
                x = self.name
                out[f"{prefix}/fid_{x}"] = float(self.fid.compute())
                out[f"{prefix}/fid_{x}_n"] = n_fake
                out[f"{prefix}/fid_{x}_n_real"] = n_real
                self.kid.subset_size = min(self.kid_subset_size, n_fake, n_real)
                kid, kid_std = self.kid.compute()
                out[f"{prefix}/kid_{x}"], out[f"{prefix}/kid_{x}_std"] = float(kid), float(kid_std)
                self.inception_score.splits = max(1, min(self.is_splits, n_fake // 2))
                is_mean, is_std = self.inception_score.compute()
                out[f"{prefix}/is_{x}"] = float(is_mean)
                out[f"{prefix}/is_{x}_std"] = 0.0 if math.isnan(float(is_std)) else float(is_std)
                if self.prdc is not None and min(n_fake, n_real) > max(self.prdc.pr_k, self.prdc.dc_k):
                    out.update({f"{prefix}/{k}_{x}": v for k, v in self.prdc.compute().items()})
            real = float(self.blur_real.compute())
            fake = float(self.blur_fake.compute())
            out[f"{prefix}/blur_real"] = real
            if n_fake > 0:
                out[f"{prefix}/blur"] = fake
                out[f"{prefix}/blur_ratio"] = fake / real if real > 0 else float("nan")
            if self.has_recon:
                recon = float(self.blur_recon.compute())
                out[f"{prefix}/blur_recon"] = recon
                out[f"{prefix}/blur_ratio_recon"] = recon / real if real > 0 else float("nan")
        return out

    def reset_fake(self) -> None:
        """Forget generated images and reconstructions; keep the real statistics."""
        for m in (self.fid, self.kid, self.inception_score, self.prdc, self.blur_fake, self.blur_recon):
            if m is not None:
                m.reset()  # FID/KID/PRDC keep their real features (reset_real_features=False)
        self.has_recon = False


def _cuda_devices(metrics) -> list:
    devs = set()
    for m in metrics:
        if m.device.type == "cuda":
            devs.add(m.device.index if m.device.index is not None else torch.cuda.current_device())
    return sorted(devs)


# --------------------------------------------------------------------------- driving a model


def reference_path(cache_dir: Path, data_key: dict, split: str, features_id: str, n: int, seed: int) -> Path:
    """Where the real statistics of ``n`` images of a split, picked with ``seed``, scored by one feature net,
    are cached: ``<cache>/reference/<data>-<hash>.pt``, the hash over all of these."""
    key = {"data": data_key, "split": split, "features": features_id, "n": n, "seed": seed, "version": 1}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(cache_dir) / "reference" / f"{data_key.get('name', 'data')}-{split}-{digest}.pt"


def sample_generator(seed: int, rank: int = 0) -> torch.Generator:
    """The noise of rank ``rank``'s samples in :func:`measure` (``python -m lit_gen.sample`` draws the same)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + rank)


def real_indices(n_items: int, n: int, seed: int) -> torch.Tensor:
    """A fixed random subset of ``n`` of ``range(n_items)`` (sorted data, e.g. by class, stays unbiased)."""
    perm = torch.randperm(n_items, generator=torch.Generator().manual_seed(seed))
    return perm[: min(n, n_items)]


def shard_count(n: int, rank: int, world: int) -> int:
    return n // world + (1 if rank < n % world else 0)


def iterate_images(dataset, indices: torch.Tensor, batch_size: int):
    for start in range(0, len(indices), batch_size):
        yield torch.stack([dataset[int(i)]["image"] for i in indices[start : start + batch_size]])


REAL_ONLY = ("/blur_real", "/blur_recon", "/blur_ratio_recon", "_n_real")  # keys that do not depend on the samples


def _feed_fake(quality: SampleQuality, sample, n: int, batch_size: int, generator: torch.Generator, bar) -> None:
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        quality.update_fake(sample(b, generator=generator))
        done += b
        bar.update(b)


@torch.no_grad()
@full_precision()
def measure(model, real_dataset, quality: SampleQuality, num_samples: int, *, prefix: str = "val", seed: int = 0,
            batch_size: int = MEASURE_BATCH, rank: int = 0, world: int = 1, progress: bool = True,
            reconstructions: bool = True, draws: bool = True) -> dict:
    """Feed real images (first call only), ``N`` samples and reconstructions; compute on every rank.

    With ``quality.reference_cache`` set (one process), the real statistics are read from that file when it
    exists and written to it after they are computed, so a second evaluation does not recompute them.

    ``N = min(num_samples, len(real_dataset))`` is used for both sides. Rank
    ``r`` of ``world`` takes every ``world``-th real image and ``~N/world``
    samples from a generator seeded with ``(seed, r)``; the same ``z`` each call,
    so values across epochs differ only through the model.

    A model whose ``sample`` shows the decoder's mean and that has ``sample_draw`` (the VAE family) is scored on
    draws from p(x|z) too, on the same z, with ``draws``: the sample-side values again under ``{prefix}/draw/``.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    n = min(int(num_samples), len(real_dataset))
    quality.to(device)
    cache = quality.reference_cache if world == 1 else None  # a rank's shard is not the whole real set
    if cache is not None and not quality.real_done and quality.load_real(cache):
        quality.to(device)
    idx = real_indices(len(real_dataset), n, seed)[rank::world]
    n_fake_here = shard_count(n, rank, world)
    draws = draws and callable(getattr(model, "sample_draw", None))
    work = (n_fake_here * (2 if draws else 1) + (0 if quality.real_done else len(idx))
            + (len(idx) if reconstructions else 0))
    # delay: the bar appears only when the work takes more than a moment
    bar = progress_bar(work, f"{prefix} sample metrics (N={n})", progress and rank == 0, unit="img", delay=2.0)
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=_cuda_devices(quality.metrics())):
            torch.manual_seed(seed)
            if not quality.real_done:
                for x in iterate_images(real_dataset, idx, batch_size):
                    quality.update_real(x.to(device))
                    bar.update(len(x))
                quality.real_done, quality.n_real = True, n
                if cache is not None:
                    quality.save_real(cache)
            _feed_fake(quality, model.sample, n_fake_here, batch_size, sample_generator(seed, rank), bar)
            if reconstructions:
                for x in iterate_images(real_dataset, idx, batch_size):
                    recon = model.reconstruct(x.to(device))
                    if recon is None:  # e.g. a GAN: no encoder
                        break
                    quality.update_recon(recon)
                    bar.update(len(x))
        # every rank computes (torchmetrics syncs here); recon presence must agree across ranks
        out = quality.compute(prefix, n_fake=n, n_real=quality.n_real)
        if draws:
            quality.reset_fake()
            with torch.random.fork_rng(devices=_cuda_devices(quality.metrics())):
                _feed_fake(quality, model.sample_draw, n_fake_here, batch_size, sample_generator(seed, rank), bar)
            drawn = quality.compute(prefix, n_fake=n, n_real=quality.n_real)
            out.update({k.replace(f"{prefix}/", f"{prefix}/draw/", 1): v for k, v in drawn.items()
                        if not k.endswith(REAL_ONLY)})
        bar.close()
    finally:
        quality.reset_fake()
        model.train(was_training)
    return out
