"""``python -m lit_gen.disentangle --ckpt PATH``: DC-IGN disentanglement metrics of a checkpoint, as JSON.

Rebuilds the model from the config stored in the checkpoint and evaluates it
on held-out items (the test split by default; for ``faces`` these are faces of
identities never seen in training): per-factor |Spearman rho| of the assigned
latent (DC-IGN) or of the best single latent (a model without an assignment,
e.g. the baseline or a plain VAE), MIG over all factors, and for the rendered
sources (scenes, faces) the azimuth and pose re-rendering MSEs with their
floors and the within-item sweeps. Prints the JSON on stdout; ``--images DIR`` also
writes the sweep grids and the scatter plot there.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lit_gen.errors import UserError
from lit_gen.cli import make_parser, run_cli


def load(ckpt_path: str):
    """(model, datamodule, cfg) from a lit_gen checkpoint; UserError for anything unusable."""
    from lit_gen.checkpoints import load_model

    model, dm, cfg, _ = load_model(ckpt_path, "test")
    if "factors" not in dm.info.keys:
        raise UserError(f"--ckpt {ckpt_path}: data.name={cfg.data.name} has no factors to measure disentanglement against")
    if not hasattr(model, "encode"):
        raise UserError(f"--ckpt {ckpt_path}: model.name={cfg.model.name} has no encoder; disentanglement needs one")
    return model, dm, cfg


def disentangle(ckpt_path: str, split: str = "test", n: int = 1000, images: str | None = None,
                votes: int | None = None) -> dict:
    started = time.time()
    model, dm, cfg = load(ckpt_path)
    from lit_gen.latent_evaluation import run_evaluation, write_pictures

    ds = getattr(dm.splits, split)
    if len(ds) == 0:
        raise UserError(f"--split {split}: the split is empty")
    votes = cfg.metrics.factor_vae_votes if votes is None else votes
    res = run_evaluation(model, ds, cfg.data, dm.info, n, cfg.seed, votes)
    out = {"ckpt": str(Path(ckpt_path).resolve()), "model": cfg.model.name,
           "clamp": bool(cfg.model.get("clamp", False)), "split": split, "n": min(n, len(ds)), "factor_vae_votes": votes}
    out.update(res["metrics"])
    if images:
        out["images"] = [str(p) for p in write_pictures(model, res, dm.info.factor_names, images)]
    out["seconds"] = round(time.time() - started, 1)
    return out


def _main(argv) -> int:
    p = make_parser("python -m lit_gen.disentangle", "Disentanglement metrics (DC-IGN) of a checkpoint, as JSON.")
    p.add_argument("--ckpt", required=True, metavar="PATH", help="a lit_gen checkpoint (e.g. runs/X/checkpoints/last.ckpt)")
    p.add_argument("--split", default="test", choices=("test", "val"), help="held-out split (default: test)")
    p.add_argument("--n", type=int, default=1000, help="held-out scenes to evaluate on (default: 1000)")
    p.add_argument("--images", metavar="DIR", default=None, help="also write sweep grids and the scatter plot here")
    p.add_argument("--votes", type=int, default=None, metavar="N",
                   help="FactorVAE score votes (batches of 64; default: the run's metrics.factor_vae_votes; 0: off)")
    args = p.parse_args(argv)
    if args.n < 2:
        raise UserError(f"--n {args.n}: needs at least 2 scenes")
    if args.votes is not None and args.votes < 0:
        raise UserError(f"--votes {args.votes}: must be >= 0 (0 turns the FactorVAE score off)")
    print(json.dumps(disentangle(args.ckpt, args.split, args.n, args.images, args.votes), indent=2, sort_keys=True))
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
