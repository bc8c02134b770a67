"""``python -m lit_gen.features --data NAME [key=value ...]``: train and cache the domain feature network.

The network (a small CNN classifier on the data set's own labels) gives the
``domain`` FID/KID features and IS logits (``lit_gen.metrics.feature_net``). It is
cached under ``<cache>/features/<data>-<hash>.pt``; the hash covers the data
config and the network config, so a different image size, split or
``metrics.domain_epochs`` gets its own file. ``fit`` and ``evaluate`` train it
on first use anyway; this command does it ahead of time and reports its test
accuracy.

examples:
  python -m lit_gen.features --data mnist
  python -m lit_gen.features --data mnist data.root=/data data.image_size=32
  python -m lit_gen.features --config configs/vae.yaml          # the config's data section
  python -m lit_gen.features --data scenes metrics.cache_dir=/tmp/cache --force
  python -m lit_gen.features --config configs/gan.yaml --export scenes-features.pt
      # one file for a sweep over many machines: metrics.domain_weights=scenes-features.pt

The training is deterministic (fixed seed, one thread), so two machines build the
same weights; the printed hash (``weights 3fa2b1c09d8e``) says which net scored a
result, and every result records it (``features_id``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from lit_gen.errors import UserError
from lit_gen.messages import say
from lit_gen.cli import make_parser, run_cli

ALLOWED = ("data", "metrics", "seed")


def data_metrics_config(data_name, overrides, config_path=None):
    """A resolved config whose ``data`` and ``metrics`` sections are validated (no model needed)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

    from lit_gen.bounds import check_bounds
    from lit_gen.config.load import _parse_overrides, _read_yaml
    from lit_gen.config.schema import RootConfig
    from lit_gen.registry import DATASETS

    dot = _parse_overrides(overrides)
    for key in dot:
        if key not in ALLOWED:
            raise UserError(f"override {key}.*: only {', '.join(k + '.*' for k in ALLOWED[:2])} apply to the feature network")
    base = OmegaConf.structured(RootConfig)
    layers = []
    if config_path:
        raw = _read_yaml(config_path)
        layers.append(OmegaConf.create({k: raw[k] for k in ALLOWED if k in raw}))
    if data_name:
        layers.append(OmegaConf.create({"data": {"name": data_name}}))
    layers.append(dot)
    try:
        cfg = OmegaConf.merge(base, *layers)
        OmegaConf.resolve(cfg)
    except ConfigKeyError as e:
        raise UserError(f"config: unknown key '{e.full_key}'") from None
    except OmegaConfBaseException as e:
        raise UserError(f"config: {str(e).splitlines()[0]}") from None
    if cfg.data.name not in DATASETS:
        raise UserError(f"data.name={cfg.data.name!r}: unknown data set; choose one of {', '.join(sorted(DATASETS))}")
    typed = OmegaConf.to_object(cfg)
    for section in ("data", "metrics"):
        check_bounds(getattr(typed, section), section)
    return cfg


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.features",
                         "Train (once) and cache the domain feature network used for FID/IS/KID; print its test accuracy.")
    parser.add_argument("--data", metavar="NAME", help="data set: scenes, mnist, fashion_mnist, binarized_mnist, folder")
    parser.add_argument("--config", metavar="FILE", help="take the data (and metrics) sections from this config")
    parser.add_argument("--force", action="store_true", help="retrain even if a cached network exists")
    parser.add_argument("--export", metavar="PATH", help="also copy the network to PATH (for metrics.domain_weights=PATH)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="data.* / metrics.* overrides, e.g. data.root=DIR")
    args = parser.parse_args(argv)
    if not args.data and not args.config:
        parser.error("give --data NAME or --config FILE")

    cfg = data_metrics_config(args.data, args.overrides, args.config)

    from lit_gen.metrics.feature_cache import cache_path, ensure_domain_net, net_config
    from lit_gen.metrics.feature_net import HASH_CHARS

    export = Path(args.export).expanduser() if args.export else None
    if export is not None and (export.is_dir() or not export.parent.is_dir()):
        raise UserError(f"--export {args.export}: " + ("is a folder; give a file name" if export.is_dir()
                                                      else f"no folder {export.parent}"))

    net_cfg = net_config(cfg.metrics)
    path = cache_path(cfg.data, net_cfg, cfg.metrics.cache_dir)
    cached = path.is_file() and not args.force
    _, meta = ensure_domain_net(cfg.data, net_cfg, cfg.metrics.cache_dir, echo=say, force=args.force)
    acc = meta.get("test_accuracy")
    state = "cached" if cached else "trained"
    print(f"domain features for {cfg.data.name}: test accuracy {100 * acc:.2f}%, weights "
          f"{meta['sha256'][:HASH_CHARS]} ({state}: {meta['path']})", flush=True)
    if export is not None:
        tmp = export.with_name(export.name + ".tmp")
        shutil.copyfile(meta["path"], tmp)
        tmp.replace(export)  # atomic: a reader never sees half a file
        print(f"exported to {export}; score with it: metrics.domain_weights={export}", flush=True)
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
