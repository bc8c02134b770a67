"""``python -m lit_gen.features --data NAME [key=value ...]``: train and cache the domain feature network.

The network (a small CNN classifier on the data set's own labels) gives the
``domain`` FID/KID features and IS logits (``lit_gen.metrics.features``). It is
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
"""

from __future__ import annotations

import sys

from lit_gen.errors import UserError
from lit_gen.fit import make_parser, run_cli

ALLOWED = ("data", "metrics", "seed")


def data_metrics_config(data_name, overrides, config_path=None):
    """A resolved config whose ``data`` and ``metrics`` sections are validated (no model needed)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

    from lit_gen.config.load import _check, _choice, _parse_overrides, _read_yaml
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
    m = cfg.metrics
    _check(m.domain_epochs >= 1, "metrics.domain_epochs", m.domain_epochs, "must be >= 1")
    _check(m.domain_max_train is None or m.domain_max_train >= 1, "metrics.domain_max_train", m.domain_max_train,
           "must be >= 1")
    _choice("data.channels", cfg.data.channels, (1, 3))
    return cfg


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.features",
                         "Train (once) and cache the domain feature network used for FID/IS/KID; print its test accuracy.")
    parser.add_argument("--data", metavar="NAME", help="data set: scenes, mnist, fashion_mnist, binarized_mnist, folder")
    parser.add_argument("--config", metavar="FILE", help="take the data (and metrics) sections from this config")
    parser.add_argument("--force", action="store_true", help="retrain even if a cached network exists")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="data.* / metrics.* overrides, e.g. data.root=DIR")
    args = parser.parse_args(argv)
    if not args.data and not args.config:
        parser.error("give --data NAME or --config FILE")

    cfg = data_metrics_config(args.data, args.overrides, args.config)

    from lit_gen.metrics.features import cache_path, ensure_domain_net, net_config

    def echo(msg: str) -> None:
        print(f"lit_gen: {msg}", flush=True)

    net_cfg = net_config(cfg.metrics)
    path = cache_path(cfg.data, net_cfg, cfg.metrics.cache_dir)
    cached = path.is_file() and not args.force
    _, meta = ensure_domain_net(cfg.data, net_cfg, cfg.metrics.cache_dir, echo=echo, force=args.force)
    acc = meta.get("test_accuracy")
    state = "cached" if cached else "trained"
    print(f"domain features for {cfg.data.name}: test accuracy {100 * acc:.2f}% ({state}: {meta['path']})", flush=True)
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
