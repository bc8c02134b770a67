"""Sample-quality and likelihood metrics, the same for every model.

- :mod:`lit_gen.metrics.blur` -- blurriness (variance of the Laplacian), a torchmetrics ``Metric``.
- :mod:`lit_gen.metrics.feature_extractor` -- feature extractors for FID/IS/KID as torchmetrics calls them: the
  domain classifier (:mod:`~lit_gen.metrics.feature_net`, trained by :mod:`~lit_gen.metrics.feature_training`,
  cached by :mod:`~lit_gen.metrics.feature_cache`; ``python -m lit_gen.features``) or the torch-fidelity
  Inception-v3 from a local weights file.
- :mod:`lit_gen.metrics.prdc` -- improved precision / recall and density / coverage on the FID features, a
  torchmetrics ``Metric`` (``PrecisionRecall``) and its functional twin (``lit_gen.metrics.prdc.prdc``), chunked.
- :mod:`lit_gen.metrics.sample_quality` -- torchmetrics FID / IS / KID, precision / recall / density / coverage
  and blur, fed through the generative protocol (``sample``, ``reconstruct``); real statistics cached on disk.
- :mod:`lit_gen.metrics.likelihood` -- importance-weighted NLL for models with ``log_likelihood``.

Used by ``lit_gen.callbacks.sample_quality_callback`` (every ``metrics.every_n_epochs`` during fit) and by
``python -m lit_gen.evaluate``. Submodules are imported lazily (torchmetrics' image metrics are slow
to import), so ``import lit_gen.metrics`` is cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Blurriness": "blur",
    "laplacian_variance": "blur",
    "DomainNet": "feature_net",
    "FeatureExtractor": "feature_extractor",
    "build_extractor": "feature_extractor",
    "build_inception": "feature_extractor",
    "ensure_domain_net": "feature_cache",
    "PrecisionRecall": "prdc",
    "SampleQuality": "sample_quality",
    "measure": "sample_quality",
    "iw_nll": "likelihood",
    "iw_log_likelihood": "likelihood",
    "supports_likelihood": "likelihood",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lit_gen.metrics.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lit_gen.metrics' has no attribute {name!r}")
