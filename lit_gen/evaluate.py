"""``python -m lit_gen.evaluate --ckpt PATH [key=value ...]``: the configured metrics of a checkpoint, on the test split.

Rebuilds the model from the config stored in the checkpoint (``checkpoint["lit_gen"]``),
applies ``key=value`` overrides on top (e.g. ``metrics.nll_k=5000``,
``metrics.num_samples=10000``, ``data.root=...``), loads the weights with
``torch.load(weights_only=True)`` and computes, on the test split:

- FID / IS / KID on ``metrics.features`` (``test/fid_domain``, ...; N logged with them),
- blurriness of samples and reconstructions (``test/blur_ratio``, ``test/blur_ratio_recon``),
- the importance-weighted NLL for models with ``log_likelihood`` (``test/nll``, ``test/nll_k``).

Prints ONE JSON object on stdout (everything else goes to stderr) and writes it to
``<ckpt folder>/<ckpt stem>.eval.json`` (or ``--out FILE``).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from pathlib import Path

from lit_gen.errors import UserError
from lit_gen.fit import make_parser, run_cli


def _err(msg: str) -> None:
    print(f"lit_gen: {msg}", file=sys.stderr, flush=True)


def _finite(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None


def evaluate(ckpt_path: str, overrides=(), out: str | None = None, progress: bool = True) -> dict:
    started = time.time()
    from lit_gen.checkpoints import eval_device, load_model

    model, dm, cfg, ckpt = load_model(ckpt_path, "test", overrides)

    import lightning as L

    from lit_gen.metrics.features import build_extractor
    from lit_gen.metrics.likelihood import iw_nll, supports_likelihood
    from lit_gen.metrics.sample_quality import SampleQuality, measure

    name = cfg.model.name
    L.seed_everything(cfg.seed, verbose=False)
    test = dm.splits.test
    if len(test) == 0:
        raise UserError(f"data.name={cfg.data.name}: the test split is empty; nothing to evaluate on")
    model.to(eval_device(cfg.trainer.accelerator)).eval()

    m = cfg.metrics
    info = dm.splits.info
    if not model.data.is_image:
        return _finish(_evaluate_vectors(model, dm, cfg, ckpt, ckpt_path, progress), ckpt_path, out, started)
    extractor = None
    if m.features == "domain" and ("label" not in info.keys or not info.num_classes):
        _err(f"data.name={cfg.data.name} has no class labels for the domain feature network: FID/IS/KID skipped")
    else:
        extractor = build_extractor(m, cfg.data, splits=dm.splits, echo=_err, progress=progress)

    result = {
        "ckpt": str(Path(ckpt_path).resolve()),
        "model": name,
        "data": cfg.data.name,
        "split": "test",
        "epoch": ckpt.get("epoch"),
        "global_step": ckpt.get("global_step"),
        "features": extractor.name if extractor is not None else None,
    }
    if extractor is not None and extractor.info.get("test_accuracy") is not None:
        result["features_test_accuracy"] = extractor.info["test_accuracy"]
    quality = SampleQuality(extractor, seed=cfg.seed, kid_subsets=m.kid_subsets)
    result.update(measure(model, test, quality, m.num_samples, prefix="test", seed=cfg.seed, progress=progress))
    if m.nll_k > 0 and supports_likelihood(model):
        result.update(iw_nll(model, test, m.nll_k, prefix="test", budget=m.nll_batch, seed=cfg.seed, progress=progress))
    return _finish(result, ckpt_path, out, started)


def _evaluate_vectors(model, dm, cfg, ckpt, ckpt_path: str, progress: bool) -> dict:
    """Toy densities: modes covered and high-quality fraction on ``data.toy.eval_samples`` samples (and the
    IW-NLL for models with a likelihood), the same measures and seed as the run's validation."""
    from lit_gen.callbacks.toy_plots import toy_callback
    from lit_gen.metrics.likelihood import iw_nll, supports_likelihood

    scorer = toy_callback(str(Path(ckpt_path).parent), cfg, echo=_err)
    values, _ = scorer.score(model, scorer.eval_samples, scorer.seed)
    result = {"ckpt": str(Path(ckpt_path).resolve()), "model": cfg.model.name, "data": cfg.data.name, "split": "test",
              "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
              "test/eval_samples": scorer.eval_samples, "test/min_count": scorer.min_count}
    result.update({f"test/{k}": v for k, v in values.items()})
    m = cfg.metrics
    if m.nll_k > 0 and supports_likelihood(model) and len(dm.splits.test):
        nll = iw_nll(model, dm.splits.test, m.nll_k, prefix="test", budget=m.nll_batch, seed=cfg.seed, progress=progress)
        result.update({k: v for k, v in nll.items() if not k.endswith("_bpd")})
    return result


def _finish(result: dict, ckpt_path: str, out: str | None, started: float) -> dict:
    result["seconds"] = round(time.time() - started, 1)
    result = {k: _finite(v) for k, v in result.items()}

    target = Path(out) if out else Path(ckpt_path).with_name(Path(ckpt_path).stem + ".eval.json")
    try:
        target.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        result_path = str(target)
    except OSError as e:
        _err(f"could not write {target} ({e.strerror}); the result is on stdout only")
        result_path = None
    return {"result": result, "path": result_path}


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.evaluate",
                         "Compute the configured metrics (FID/IS/KID, blur, IW-NLL) of a checkpoint on the test split; "
                         "print one JSON object and write <ckpt>.eval.json.")
    parser.add_argument("--ckpt", required=True, metavar="PATH", help="a lit_gen checkpoint, e.g. runs/NAME/checkpoints/last.ckpt")
    parser.add_argument("--out", metavar="FILE", help="where to write the JSON (default: next to the checkpoint)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="overrides on top of the stored config, e.g. metrics.nll_k=5000 metrics.num_samples=10000")
    args = parser.parse_args(argv)
    # stdout carries exactly one JSON object: anything else printed while computing goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        res = evaluate(args.ckpt, args.overrides, out=args.out, progress=not args.no_progress)
    print(json.dumps(res["result"], indent=2, sort_keys=True), flush=True)
    if res["path"]:
        _err(f"wrote {res['path']}")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
