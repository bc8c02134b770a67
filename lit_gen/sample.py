"""``python -m lit_gen.sample --ckpt PATH --n N --out FOLDER``: draw samples of a checkpoint as image files.

Rebuilds the model as ``evaluate`` does (the config stored in the checkpoint, ``key=value`` overrides on top)
and writes ``N`` samples, in drawing order, as

- ``--format png`` (default): ``FOLDER/000000.png``, ``000001.png``, ... one 8-bit image each, grey (``L``)
  or ``RGB`` by the data's channels;
- ``--format npz``: one ``FOLDER/samples.npz`` holding ``images``, a uint8 array of shape ``(N, H, W, C)``
  (channels last, as numpy and Pillow lay out images; ``C`` is 1 or 3).

A pixel is ``round(255 * x)`` of the model's ``x`` in [0, 1]. ``python -m lit_gen.evaluate --images FOLDER``
scores such a folder (or the .npz).

The same samples evaluate --ckpt scores: the noise comes from ``sample_quality.sample_generator(seed)``
in batches of 250 that end at ``M = min(metrics.num_samples, test size)`` as
``lit_gen.metrics.sample_quality.measure`` draws them (rank 0), then go on, with ``seed`` the checkpoint's
``seed`` unless ``--seed`` says otherwise. So the first ``min(N, M)`` files are the samples ``evaluate --ckpt``
scores with that seed and the same overrides, up to the 8-bit rounding (with ``N < M`` all but the last batch).
Another ``--batch-size`` draws other samples (torch draws a batch's noise as a whole).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lit_gen.errors import UserError
from lit_gen.cli import make_parser, run_cli
from lit_gen.image_files import NPZ_KEY
from lit_gen.storage import atomic_path

NPZ_NAME = "samples.npz"
# measure()'s batch size and generator seed for rank 0: the stream evaluate --ckpt scores
MEASURE_BATCH = 250  # lit_gen.metrics.sample_quality.MEASURE_BATCH, here without importing torch (--help stays fast)
_PNG_NAME = re.compile(r"^\d{6,}\.png$")


def png_name(i: int, n: int) -> str:
    """``000042.png``: zero-padded to at least 6 digits, so that name order is drawing order."""
    return f"{i:0{max(6, len(str(n - 1)))}d}.png"


def existing_samples(folder: Path) -> list:
    """The sample files ``sample`` writes that already lie in ``folder`` (numbered PNGs, samples.npz)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and (p.name == NPZ_NAME or _PNG_NAME.match(p.name)))


def to_uint8(x):
    """Images (b, C, H, W) in [0, 1] -> uint8 numpy (b, H, W, C)."""
    import torch

    return (x.detach().float().clamp(0, 1) * 255).round().to("cpu", torch.uint8).permute(0, 2, 3, 1).numpy()


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an --out that is a file, or a folder that already holds samples (unless --overwrite)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: an existing file; give a folder for the samples")
    old = existing_samples(out)
    if old and not overwrite:
        raise UserError(f"--out {out}: already holds {len(old)} sample file(s) (e.g. {old[0].name}); "
                        "give another folder or add --overwrite")


def batch_sizes(n: int, scored: int, batch_size: int) -> list:
    """Batches of ``batch_size`` that end where measure()'s end, at ``scored`` samples, and go on past it: torch
    draws a batch's noise as a whole, so only the same batches give the same samples."""
    sizes, done = [], 0
    for end in (min(n, scored), n):
        while done < end:
            sizes.append(min(batch_size, end - done))
            done += sizes[-1]
    return sizes


def draw(model, sizes: list, seed: int, progress: bool):
    """Yield the samples batch by batch (uint8, (b, H, W, C)) from measure()'s generator for ``seed``."""
    import torch

    from lit_gen.metrics.tqdm_bar import progress_bar
    from lit_gen.metrics.sample_quality import sample_generator

    g = sample_generator(seed)
    bar = progress_bar(sum(sizes), "samples", progress, unit="img")
    with torch.no_grad():
        for b in sizes:
            yield to_uint8(model.sample(b, generator=g))
            bar.update(b)
    bar.close()


def write_png(batches, out: Path, n: int) -> None:
    from PIL import Image

    i = 0
    for batch in batches:
        for img in batch:
            with atomic_path(out / png_name(i, n), keep_suffix=True) as tmp:
                Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).save(tmp)
            i += 1


def write_npz(batches, out: Path) -> None:
    import numpy as np

    images = np.concatenate(list(batches))
    with atomic_path(out / NPZ_NAME, keep_suffix=True) as tmp:  # np.savez adds .npz to a name without it
        np.savez(tmp, **{NPZ_KEY: images})


def sample(ckpt_path: str, n: int, out: str, fmt: str = "png", seed: int | None = None,
           batch_size: int = MEASURE_BATCH, overrides=(), overwrite: bool = False, progress: bool = True) -> Path:
    """Write ``n`` samples of the checkpoint into the folder ``out``; returns the folder."""
    folder = Path(out)
    check_out(folder, overwrite)
    from lit_gen.checkpoints import eval_device, load_model

    model, dm, cfg, _ = load_model(ckpt_path, "test", overrides)
    if not model.data.is_image:
        raise UserError(f"--ckpt {ckpt_path}: a model of vector data (data.name={cfg.data.name}); toy densities "
                        "are not images (python -m lit_gen.evaluate --ckpt scores them)")
    import lightning as L

    seed = cfg.seed if seed is None else seed
    L.seed_everything(seed, verbose=False)
    model.to(eval_device(cfg.trainer.accelerator)).eval()
    folder.mkdir(parents=True, exist_ok=True)
    for old in existing_samples(folder):  # --overwrite: no stale file may be scored with the new ones
        old.unlink()
    scored = min(cfg.metrics.num_samples, len(dm.splits.test))  # what evaluate --ckpt scores
    batches = draw(model, batch_sizes(n, scored, batch_size), seed, progress)
    if fmt == "npz":
        write_npz(batches, folder)
    else:
        write_png(batches, folder, n)
    return folder


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.sample",
                         "Draw samples of a checkpoint and write them as PNG files or one .npz "
                         "(score them with python -m lit_gen.evaluate --images FOLDER).")
    parser.add_argument("--ckpt", required=True, metavar="PATH",
                        help="a lit_gen checkpoint, e.g. runs/NAME/checkpoints/last.ckpt")
    parser.add_argument("--n", required=True, type=int, metavar="N", help="how many samples")
    parser.add_argument("--out", required=True, metavar="FOLDER", help="the folder to write them into")
    parser.add_argument("--format", default="png", choices=("png", "npz"),
                        help="png: FOLDER/000000.png ...; npz: FOLDER/samples.npz, uint8 'images' (N, H, W, C)")
    parser.add_argument("--seed", type=int, metavar="S",
                        help="default: the checkpoint's seed (the samples evaluate --ckpt scores)")
    parser.add_argument("--batch-size", type=int, default=MEASURE_BATCH, metavar="B",
                        help=f"samples per forward pass (default {MEASURE_BATCH}, as evaluate draws them; "
                             "another size draws other samples)")
    parser.add_argument("--overwrite", action="store_true", help="replace the samples already in FOLDER")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides on top of the stored config")
    args = parser.parse_args(argv)
    if args.n < 1:
        raise UserError(f"--n {args.n}: must be >= 1")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be >= 1")
    folder = sample(args.ckpt, args.n, args.out, args.format, args.seed, args.batch_size, args.overrides,
                    args.overwrite, not args.no_progress)
    what = NPZ_NAME if args.format == "npz" else "PNG files"
    print(f"wrote {args.n} samples to {folder} ({what})", flush=True)
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
