"""``python -m lit_gen.complete --ckpt PATH [--n N]``: Attribute2Image evaluation of a cvae/discvae checkpoint, as JSON.

Image completion by latent optimization (:mod:`lit_gen.models.cvae.inference`): on ``--n``
held-out scenes (the test split), a ``--hole`` x ``--hole`` square of pixels in the central
part of each image is removed; z is found by minimising ||M*(x - x_hat(y,z))||^2 + lam*||z||^2
with Adam (``--steps``, ``--lr``, ``--lam``), and the missing square is filled with x_hat.
Reported: the mean squared error over the missing pixels (images in [0, 1]) for the
optimization (from z = 0 and from the encoder's z) and for the encoder-only baseline.
Also: the disCVAE gate IoU against the true background mask, and with ``--attributes``
the attribute accuracy of conditionally generated samples (classifiers trained on real
data; see :mod:`lit_gen.models.cvae.evaluation`), the y-swap accuracy on real images, and
the judges' accuracy on blurred real images (``--judge-blur``: also with judges trained on
blurred real images). ``--judge-seeds`` and ``--judge-arch`` grade the same samples with more judges
(every architecture of :mod:`lit_gen.metrics.judges` times every seed), reported under ``judges`` with the lowest
accuracy per group in ``judges_min``.
``--images DIR`` writes a completion grid.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lit_gen.errors import UserError
from lit_gen.cli import make_parser, run_cli


def evaluate_checkpoint(ckpt: str, n: int = 200, split: str = "test", steps: int = 200, lr: float = 0.05,
                        lam: float = 1e-3, hole: int = 16, attributes: bool = False, per_value: int = 200,
                        classifier_epochs: int = 2, images: str | None = None, seed: int = 0,
                        judge_blur: float = 0.0, judge_seeds=(0,), judge_archs=("domain",)) -> dict:
    import torch

    from lit_gen.checkpoints import load_model
    from lit_gen.models.cvae.inference import complete, missing_mse, square_holes

    started = time.time()
    model, dm, cfg, _ = load_model(ckpt, "fit" if attributes else "test")
    if not hasattr(model, "decode_model") or not hasattr(model, "cond"):
        raise UserError(f"--ckpt {ckpt}: model.name={cfg.model.name} is not an Attribute2Image model (cvae, discvae)")
    dm.setup("test")
    ds = getattr(dm.splits, split)
    if len(ds) == 0:
        raise UserError(f"--split {split}: the split is empty")
    if hole >= cfg.data.image_size:
        raise UserError(f"--hole {hole}: must be smaller than the image size {cfg.data.image_size}")
    n = min(n, len(ds))
    b = torch.utils.data.default_collate([ds[i] for i in range(n)])
    x, y = b["image"], model.cond.from_batch(b)
    fg = b["mask"].float() if "mask" in b else None
    known = square_holes(n, cfg.data.image_size, hole, torch.Generator().manual_seed(seed))
    out = {"ckpt": str(Path(ckpt).resolve()), "model": cfg.model.name, "condition": model.condition,
           "split": split, "n": n, "hole": hole, "steps": steps, "lr": lr, "lam": lam}
    torch.manual_seed(seed)
    res0 = complete(model, x, y, known, fg, steps, lr, lam, init="zero")
    res1 = complete(model, x, y, known, fg, steps, lr, lam, init="encoder")
    out["completion_mse"] = {
        "optimized_from_zero": float(missing_mse(res0["optimized"], x, known).mean()),
        "optimized_from_encoder": float(missing_mse(res1["optimized"], x, known).mean()),
        "encoder": float(missing_mse(res0["encoder"], x, known).mean()),
        "mean_fill": float(missing_mse(x * known + 0.5 * (1 - known), x, known).mean()),
    }
    if hasattr(model, "gate_iou") and fg is not None:
        from lit_gen.models.cvae.evaluation import gate_iou

        out["gate_iou"] = gate_iou(model, ds, len(ds))
    if attributes:
        from lit_gen.models.cvae.evaluation import (attribute_accuracy, judge_blur_check, swap_accuracy,
                                                    train_attribute_classifiers)

        judges = [(arch, s) for arch in judge_archs for s in judge_seeds]
        graded = []
        for arch, judge_seed in judges:
            clf_j = train_attribute_classifiers(model, dm.splits, epochs=classifier_epochs, progress=True,
                                                seed=judge_seed, arch=arch)
            graded.append({"arch": arch, "seed": judge_seed, "groups": attribute_accuracy(model, clf_j, per_value, seed)})
            if len(graded) == 1:
                clf = clf_j  # the first judge also grades the swaps and the blurred real images
        out["attribute_accuracy"] = graded[0]["groups"]
        if len(graded) > 1:
            out["judges"] = graded
            out["judges_min"] = {g: min(j["groups"][g]["accuracy"] for j in graded) for g in graded[0]["groups"]}
        out["swap_accuracy"] = swap_accuracy(model, clf, ds, n)
        out["judge_on_blurred_real"] = judge_blur_check(clf, ds, model)
        if judge_blur > 0:  # a second set of judges, trained on real images blurred by up to judge_blur px
            clf = train_attribute_classifiers(model, dm.splits, epochs=classifier_epochs, progress=True,
                                              blur_augment=judge_blur)
            out["blur_trained_judge"] = {"blur_augment": judge_blur,
                                         "attribute_accuracy": attribute_accuracy(model, clf, per_value, seed),
                                         "judge_on_blurred_real": judge_blur_check(clf, ds, model)}
    if images:
        from lit_gen.image_grid import make_grid, save_png

        k = min(8, n)
        rows = torch.cat([x[:k], (x * known)[:k] + 0.5 * (1 - known[:k]), res0["encoder"][:k], res0["optimized"][:k]])
        out["images"] = [str(save_png(make_grid(rows, nrow=k), Path(images) / "completion.png", scale=2))]
    out["seconds"] = round(time.time() - started, 1)
    return out


def _main(argv) -> int:
    p = make_parser("python -m lit_gen.complete",
                    "Attribute2Image evaluation (completion by latent optimization, gate IoU, attribute accuracy), as JSON.")
    p.add_argument("--ckpt", required=True, metavar="PATH", help="a cvae/discvae checkpoint (runs/X/checkpoints/last.ckpt)")
    p.add_argument("--n", type=int, default=200, help="held-out images to complete (default: 200)")
    p.add_argument("--split", default="test", choices=("test", "val"), help="held-out split (default: test)")
    p.add_argument("--steps", type=int, default=200, help="Adam steps of the latent optimization (default: 200)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on z (default: 0.05)")
    p.add_argument("--lam", type=float, default=1e-3, help="weight of ||z||^2 (default: 1e-3)")
    p.add_argument("--hole", type=int, default=16, help="side of the missing square in pixels (default: 16)")
    p.add_argument("--attributes", action="store_true", help="also measure the attribute accuracy of conditional samples")
    p.add_argument("--per-value", type=int, default=200, help="samples per attribute value (default: 200)")
    p.add_argument("--classifier-epochs", type=int, default=2, help="training epochs of the attribute classifiers")
    p.add_argument("--judge-blur", type=float, default=0.0, metavar="SIGMA",
                   help="also judge with classifiers trained on real images blurred by a Gaussian of std up to SIGMA px "
                        "(default: 0, off)")
    p.add_argument("--judge-seeds", type=int, nargs="+", default=[0], metavar="SEED",
                   help="seeds of the attribute judges; each grades the same samples (default: 0)")
    p.add_argument("--judge-arch", nargs="+", default=["domain"], metavar="ARCH",
                   help="judge architectures, each trained with every seed: domain (the domain classifier), resnet "
                        "(residual, GroupNorm, global pool) (default: domain)")
    p.add_argument("--images", metavar="DIR", default=None, help="write completion.png (rows: x, input, encoder, optimized)")
    a = p.parse_args(argv)
    from lit_gen.metrics.judges import judge_factory

    for arch in a.judge_arch:
        judge_factory(arch)  # an unknown name fails here, before the checkpoint loads
    for key, v, lo in (("--n", a.n, 1), ("--steps", a.steps, 0), ("--hole", a.hole, 1), ("--per-value", a.per_value, 1),
                       ("--classifier-epochs", a.classifier_epochs, 1)):
        if v < lo:
            raise UserError(f"{key} {v}: must be >= {lo}")
    if a.judge_blur < 0:
        raise UserError(f"--judge-blur {a.judge_blur}: must be >= 0")
    if a.lr <= 0 or a.lam < 0:
        raise UserError(f"--lr {a.lr} / --lam {a.lam}: lr must be positive and lam >= 0")
    out = evaluate_checkpoint(a.ckpt, a.n, a.split, a.steps, a.lr, a.lam, a.hole, a.attributes, a.per_value,
                              a.classifier_epochs, a.images, judge_blur=a.judge_blur,
                              judge_seeds=tuple(a.judge_seeds), judge_archs=tuple(a.judge_arch))
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
