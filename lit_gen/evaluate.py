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

``python -m lit_gen.evaluate --images FOLDER_OR_NPZ --data NAME [key=value ...]`` scores images drawn
elsewhere (``python -m lit_gen.sample``, or any other framework) against that data set's test split, with the
same features, settings and keys as ``--ckpt`` (less the reconstructions and the NLL): a folder of PNG/JPEG
files (searched recursively, in sorted path order) or an ``.npz`` holding ``images``, uint8 ``(N, H, W, C)``.
The first ``N = min(images, metrics.num_samples, test size)`` images are scored. They must have the data's
``image_size`` (no resizing) and channels (grey data also takes RGB files whose three channels are equal).
``--data NAME`` with ``data.*``/``metrics.*``/``seed`` overrides builds the config as
``python -m lit_gen.features`` does; ``--config FILE`` takes those sections from a config (a run's
``config.yaml``). The JSON goes to ``FOLDER/eval.json`` (beside the .npz) or ``--out FILE``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from pathlib import Path

from lit_gen.errors import StorageError, UserError
from lit_gen.cli import make_parser, run_cli
from lit_gen.image_files import images_kind, open_images
from lit_gen.messages import say_on_stderr
from lit_gen.storage import write_text_atomic


def _finite(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None


def evaluate(ckpt_path: str, overrides=(), out: str | None = None, progress: bool = True) -> dict:
    started = time.time()
    from lit_gen.checkpoints import eval_device, load_model

    model, dm, cfg, ckpt = load_model(ckpt_path, "test", overrides)

    import lightning as L

    from lit_gen.metrics.likelihood import iw_nll, supports_likelihood

    L.seed_everything(cfg.seed, verbose=False)
    test = _test_split(dm, cfg)
    model.to(eval_device(cfg.trainer.accelerator)).eval()
    target = out or Path(ckpt_path).with_name(Path(ckpt_path).stem + ".eval.json")
    m = cfg.metrics
    if not model.data.is_image:
        return write_result(_evaluate_vectors(model, dm, cfg, ckpt, ckpt_path, progress), target, started)
    result = {
        "ckpt": str(Path(ckpt_path).resolve()),
        "model": cfg.model.name,
        "data": cfg.data.name,
        "split": "test",
        "epoch": ckpt.get("epoch"),
        "global_step": ckpt.get("global_step"),
    }
    result.update(_sample_quality(model, dm, cfg, m.num_samples, progress))
    if m.nll_k > 0 and supports_likelihood(model):
        result.update(iw_nll(model, test, m.nll_k, prefix="test", budget=m.nll_batch, seed=cfg.seed, progress=progress))
    return write_result(result, target, started)


def evaluate_images(images: str, data: str | None, overrides=(), config: str | None = None, out: str | None = None,
                    progress: bool = True) -> dict:
    """Score the images in ``images`` (a folder or an .npz) as ``evaluate`` scores a checkpoint's samples."""
    started = time.time()
    kind = images_kind(images)
    from lit_gen.features import data_metrics_config

    cfg = data_metrics_config(data, overrides, config)
    from lit_gen.data.datamodule import GenerativeDataModule

    dm = GenerativeDataModule(cfg.data)
    dm.setup("test")
    info = dm.splits.info
    if info.vector_dim is not None:
        raise UserError(f"data.name={cfg.data.name}: a toy density of vectors, not images; nothing to score "
                        f"--images {images} against")
    test = _test_split(dm, cfg)
    source = open_images(Path(images), kind, info, cfg.data.name, min(cfg.metrics.num_samples, len(test)))

    import lightning as L

    L.seed_everything(cfg.seed, verbose=False)
    result = {"images": str(Path(images).resolve()), "images_found": source.found, "data": cfg.data.name,
              "split": "test"}
    result.update(_sample_quality(source, dm, cfg, len(source.images), progress, reconstructions=False))
    folder = Path(images) if kind == "folder" else Path(images).parent
    return write_result(result, out or folder / "eval.json", started)


def _test_split(dm, cfg):
    test = dm.splits.test
    if len(test) == 0:
        raise UserError(f"data.name={cfg.data.name}: the test split is empty; nothing to evaluate on")
    return test


def _sample_quality(model, dm, cfg, num_samples: int, progress: bool, reconstructions: bool = True) -> dict:
    """The feature net's name and id and the sample-quality panel of ``model``'s samples on the test split (the keys
    of ``measure``): one place for ``--ckpt`` and ``--images``, so both score alike."""
    from lit_gen.metrics.feature_extractor import scoring_extractor
    from lit_gen.metrics.sample_quality import SampleQuality, measure

    m = cfg.metrics
    extractor = scoring_extractor(m, cfg.data, dm.splits, echo=say_on_stderr, progress=progress)
    result = {"features": extractor.name if extractor is not None else None}
    if extractor is not None:
        result["features_id"] = extractor.id  # which feature net scored FID/KID/IS/PRDC
        if extractor.info.get("test_accuracy") is not None:
            result["features_test_accuracy"] = extractor.info["test_accuracy"]
    # the test split's real statistics: computed once, then read from the cache
    quality = SampleQuality.from_config(extractor, m, cfg.seed, test_of=cfg.data,
                                        n=min(int(num_samples), len(dm.splits.test)))
    result.update(measure(model, dm.splits.test, quality, num_samples, prefix="test", seed=cfg.seed,
                          progress=progress, reconstructions=reconstructions, draws=bool(cfg.metrics.draws)))
    return result


def _evaluate_vectors(model, dm, cfg, ckpt, ckpt_path: str, progress: bool) -> dict:
    """Toy densities: modes covered and high-quality fraction on ``data.toy.eval_samples`` samples (and the
    IW-NLL for models with a likelihood), the same measures and seed as the run's validation."""
    from lit_gen.callbacks.toy_plots import toy_callback
    from lit_gen.metrics.likelihood import iw_nll, supports_likelihood

    scorer = toy_callback(str(Path(ckpt_path).parent), cfg, echo=say_on_stderr)
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


def write_result(result: dict, target, started: float) -> dict:
    """Add the seconds since ``started``, drop non-finite floats, write the JSON to ``target``; the CLIs' result."""
    result["seconds"] = round(time.time() - started, 1)
    result = {k: _finite(v) for k, v in result.items()}

    target = Path(target)
    try:
        write_text_atomic(target, json.dumps(result, indent=2, sort_keys=True) + "\n")
        result_path = str(target)
    except StorageError as e:  # the result is computed: it still reaches stdout
        say_on_stderr(f"{e}; the result is on stdout only")
        result_path = None
    except OSError as e:
        say_on_stderr(f"could not write {target} ({e.strerror}); the result is on stdout only")
        result_path = None
    return {"result": result, "path": result_path}


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.evaluate",
                         "Compute the configured metrics (FID/IS/KID, blur, IW-NLL) of a checkpoint on the test split, "
                         "or score a folder (or .npz) of generated images against a data set's test split; "
                         "print one JSON object and write it beside the input.")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", metavar="PATH", help="a lit_gen checkpoint, e.g. runs/NAME/checkpoints/last.ckpt")
    src.add_argument("--images", metavar="FOLDER_OR_NPZ",
                     help="generated images: a folder of PNG/JPEG files or an .npz of uint8 'images' (N, H, W, C)")
    parser.add_argument("--data", metavar="NAME", help="with --images: the data set to score them against")
    parser.add_argument("--config", metavar="FILE", help="with --images: take the data and metrics sections from "
                        "this config (e.g. a run's config.yaml)")
    parser.add_argument("--out", metavar="FILE", help="where to write the JSON (default: next to the checkpoint; "
                        "FOLDER/eval.json for --images)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="overrides on top of the stored config, e.g. metrics.nll_k=5000 metrics.num_samples=10000 "
                             "(with --images: data.*, metrics.*, seed)")
    args = parser.parse_args(argv)
    if args.ckpt and (args.data or args.config):
        parser.error("--data/--config go with --images; a checkpoint brings its own config (override it with "
                     "key=value)")
    if args.images and not (args.data or args.config):
        parser.error("--images needs --data NAME (or --config FILE): the data set to score them against")
    if args.ckpt:
        return print_result(lambda: evaluate(args.ckpt, args.overrides, out=args.out, progress=not args.no_progress))
    return print_result(lambda: evaluate_images(args.images, args.data, args.overrides, config=args.config,
                                                out=args.out, progress=not args.no_progress))


def print_result(compute) -> int:
    """Run ``compute()`` (a ``write_result`` answer) with stdout kept for ONE JSON object: anything else printed
    while computing goes to stderr; then print the result and where it was written."""
    with contextlib.redirect_stdout(sys.stderr):
        res = compute()
    print(json.dumps(res["result"], indent=2, sort_keys=True), flush=True)
    if res["path"]:
        say_on_stderr(f"wrote {res['path']}")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
