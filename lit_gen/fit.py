"""``python -m lit_gen.fit --config FILE [key=value ...]``: train a model."""

from __future__ import annotations

import sys

from lit_gen.cli import make_parser, run_cli


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.fit", "Train a generative model from a YAML config.")
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML config, e.g. configs/vae.yaml")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="OmegaConf dotlist overrides")
    args = parser.parse_args(argv)

    from lit_gen.config import config_to_yaml, load_config

    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        print(config_to_yaml(cfg), end="")
        return 0
    from lit_gen.run import train

    train(cfg)
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
