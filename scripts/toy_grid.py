"""Mode coverage on ring8 and grid25: the GAN with each loss and the VAE, over seeds (docs/results.md).

    OMP_NUM_THREADS=1 python scripts/toy_grid.py --out runs/toy_grid [--seeds 0 1 2] [--only ring8-nonsaturating]
    OMP_NUM_THREADS=1 python scripts/toy_grid.py --out runs/toy_fgan --only ring8-fgan_kl grid25-fgan_kl  # f-GAN cells

Each cell is one ``train(cfg)`` of ``configs/gan_<data>.yaml`` (``model.loss=...``; WGAN-GP without the
R1 term, since its gradient penalty already constrains D) or ``configs/vae_ring8.yaml`` (``data.name=grid25``
for the grid), then the final model is scored on 2500 samples under both counting rules: a mode is covered
with >= 1 sample within 3 std (VEEGAN) and with >= 20 (PacGAN). Results go to ``<out>/results.jsonl``,
one line per run (runs already there are skipped, so the script resumes), and the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOSSES = ("minimax", "nonsaturating", "hinge", "wgan-gp")
# f-GAN (Nowozin et al. 2016): the same nets under each divergence's variational bound
FGAN = ("fgan_kl", "fgan_reverse_kl", "fgan_js", "fgan_pearson", "fgan_hellinger")


def cells(seeds):
    for data in ("ring8", "grid25"):
        for model in (*LOSSES, "vae", *FGAN):
            for seed in seeds:
                yield data, model, seed


def overrides(data: str, model: str, seed: int, out: Path) -> tuple[str, list]:
    name = f"{data}-{model}-s{seed}"
    # a re-run of the grid replaces its cells
    common = [f"seed={seed}", "logger.name=csv", f"run.dir={out}", f"run.name={name}", "run.overwrite=true",
              "trainer.enable_progress_bar=false"]
    if model == "vae":
        return str(REPO / "configs" / "vae_ring8.yaml"), [*common, f"data.name={data}"]
    extra = ["model.r1_weight=0"] if model == "wgan-gp" else []
    return str(REPO / "configs" / f"gan_{data}.yaml"), [*common, f"model.loss={model}", *extra]


def run_cell(data: str, model: str, seed: int, out: Path) -> dict:
    import torch

    from lit_gen.callbacks.toy_plots import ToyDensityCallback
    from lit_gen.checkpoints import load_model
    from lit_gen.config import load_config
    from lit_gen.data.sources.toy import mixture_from_cfg
    from lit_gen.run import train

    config, ov = overrides(data, model, seed, out)
    cfg = load_config(config, ov)
    metrics = train(cfg)
    net, _, cfg, _ = load_model(str(out / f"{data}-{model}-s{seed}" / "checkpoints" / "last.ckpt"))
    row = {"data": data, "model": model, "seed": seed, "config": config, "overrides": ov,
           "wall_time_s": metrics["wall_time_s"]}
    mix = mixture_from_cfg(cfg.data)
    for min_count in (1, 20):
        cb = ToyDensityCallback(str(out), mix, min_count=min_count)
        with torch.no_grad():
            vals, _ = cb.score(net, 2500, seed=seed)
        row[f"modes_min{min_count}"] = vals["modes_covered"]
        row["hq_fraction"] = vals["hq_fraction"]
    return row


def table(rows: list) -> str:
    by = {}
    for r in rows:
        by.setdefault((r["data"], r["model"]), []).append(r)
    cols = [c for c in (*LOSSES, "vae", *FGAN) if any(k[1] == c for k in by)]
    head = "| data | metric | " + " | ".join(f"GAN {c}" if c != "vae" else "VAE" for c in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for data in ("ring8", "grid25"):
        for key, label in (("modes_min1", "modes (>= 1 sample)"), ("modes_min20", "modes (>= 20 samples)"),
                           ("hq_fraction", "high-quality %")):
            cells_ = []
            for c in cols:
                rs = by.get((data, c), [])
                if not rs:
                    cells_.append("-")
                    continue
                vals = [r[key] * (100 if key == "hq_fraction" else 1) for r in rs]
                cells_.append(f"{statistics.mean(vals):.1f} ({', '.join(f'{v:.0f}' if key != 'hq_fraction' else f'{v:.1f}' for v in vals)})")
            lines.append(f"| {data} | {label} | " + " | ".join(cells_) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/toy_grid")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--only", nargs="*", default=None, help="data-model names to run, e.g. ring8-vae")
    ap.add_argument("--table", action="store_true", help="only print the table of what is there")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    done = {(r["data"], r["model"], r["seed"]) for r in rows}
    if not args.table:
        for data, model, seed in cells(args.seeds):
            if (data, model, seed) in done or (args.only and f"{data}-{model}" not in args.only):
                continue
            row = run_cell(data, model, seed, out)
            rows.append(row)
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"toy_grid: {data} {model} seed {seed}: {row['modes_min1']:.0f} / {row['modes_min20']:.0f} modes, "
                  f"{100 * row['hq_fraction']:.1f}% hq, {row['wall_time_s']:.0f}s", file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
