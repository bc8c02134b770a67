"""``python -m lit_gen.compare RUN_DIR [RUN_DIR ...] --out DIR``: compare runs (e.g. a VAE and a GAN).

Writes ``DIR/report.html``, self-contained (the PNGs are embedded, and also
written beside it): curves of FID, IS, KID, blur ratio, ELBO and losses against
step (whatever the runs logged in metrics.csv), sample grids side by side next
to real data, a table of final metrics and the settings that differ. Works
offline, from the run folders alone. A folder that holds run folders (a sweep's)
stands for all the runs in it.

``--wandb-project P`` also builds the comparison as a W&B report (needs W&B
online and the ``wandb-workspaces`` package; the runs must have been synced).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path

from lit_gen.errors import UserError
from lit_gen.cli import make_parser, run_cli

EPILOG = """examples:
  python -m lit_gen.compare runs/vae-scenes-20261124-050102 runs/gan-scenes-20261124-061500 --out reports/vae-vs-gan
  python -m lit_gen.compare runs/sweeps/vae-20261124-070000 --out reports/vae-sweep   # every trial of a sweep

a fair VAE-vs-GAN comparison trains both on the same data with the same metric settings, e.g.
  python -m lit_gen.fit --config configs/vae.yaml run.name=cmp-vae
  python -m lit_gen.fit --config configs/gan.yaml run.name=cmp-gan
  python -m lit_gen.compare runs/cmp-vae runs/cmp-gan --out reports/vae-vs-gan"""


def wandb_online() -> bool:
    from lit_gen.tracking.loggers import FORCED_OFFLINE, wandb_key_present

    return os.environ.get("WANDB_MODE", "").lower() not in FORCED_OFFLINE and wandb_key_present()


def check_wandb_report_possible(project: str, online: bool = True) -> None:
    if online and not wandb_online():
        raise UserError(f"--wandb-project {project}: a W&B report needs W&B online (a key in WANDB_API_KEY or "
                        f"`wandb login`, and WANDB_MODE not offline/disabled); without it, leave out --wandb-project "
                        f"for the offline HTML report")
    try:
        import wandb_workspaces.reports.v2  # noqa: F401
    except ImportError:
        raise UserError(f"--wandb-project {project}: needs the wandb-workspaces package "
                        f"(python -m pip install wandb-workspaces)") from None


def wandb_report(runs, project: str, entity, title: str):
    """The comparison as a W&B report object (wandb-workspaces): a line plot per metric the runs logged, their
    sample grids, the runs grouped by model family. Nothing reaches the network until ``.save()``."""
    import wandb_workspaces.reports.v2 as wr

    from lit_gen.tracking.report import CURVES

    names = [r.path.name for r in runs]
    metrics = sorted({c for r in runs for _, _, pattern, _ in CURVES for c in r.columns if pattern.match(c)})
    runset = wr.Runset(entity=entity, project=project, name="compared runs", groupby=["config.model.name"],
                       filters="Name in [" + ", ".join(repr(n) for n in names) + "]")
    panels = [wr.LinePlot(title=m, x="Step", y=[m]) for m in metrics]
    # each run's precision against its recall, as the offline report's plane
    panels += [wr.ScatterPlot(title=f"precision-recall plane ({m.split('_')[-1]})", x=m.replace("precision", "recall"),
                              y=m) for m in metrics if m.startswith("val/precision_")]
    panels.append(wr.MediaBrowser(title="samples", media_keys=["images/samples"]))
    return wr.Report(entity=entity, project=project, title=title,
                     description="Built by python -m lit_gen.compare from: " + ", ".join(names),
                     blocks=[wr.H1(text=title), wr.PanelGrid(runsets=[runset], panels=panels)])


def report_title(runs) -> str:
    """The models in the order the runs were given: ``compare VAE GAN`` is "vae vs gan"."""
    return " vs ".join(dict.fromkeys(r.model for r in runs))


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.compare",
                         "Compare runs (e.g. a VAE and a GAN) in a self-contained HTML report, offline.")
    parser.epilog = EPILOG
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (or a folder of run folders)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="where report.html and its PNGs go (default runs/compare-<timestamp>)")
    parser.add_argument("--no-real", action="store_true", help="do not render real data next to the samples")
    parser.add_argument("--wandb-project", default=None, metavar="P",
                        help="also build the comparison as a W&B report in project P (W&B online only)")
    parser.add_argument("--wandb-entity", default=None, metavar="E", help="the W&B entity of --wandb-project")
    parser.add_argument("--wandb-dry-run", action="store_true",
                        help="with --wandb-project: print the W&B report's spec (JSON) instead of saving it; offline")
    args = parser.parse_intermixed_args(argv)

    if args.wandb_project:  # before any work: one line, exit 2
        check_wandb_report_possible(args.wandb_project, online=not args.wandb_dry_run)
    from lit_gen.tracking.report import expand_run_dirs, read_run, unique_labels, write_report

    out = Path(args.out or Path("runs") / f"compare-{datetime.now():%Y%m%d-%H%M%S}")
    given = argv if argv is not None else sys.argv[1:]
    command = "python -m lit_gen.compare " + " ".join(shlex.quote(a) for a in given)
    report = write_report(args.runs, out, command=command, real_data=not args.no_real)
    print(f"compare: wrote {report}")
    if args.wandb_project:
        paths = expand_run_dirs(args.runs)
        runs = [read_run(p, lb) for p, lb in zip(paths, unique_labels(paths))]
        report = wandb_report(runs, args.wandb_project, args.wandb_entity or "<your-entity>"
                              if args.wandb_dry_run else args.wandb_entity, report_title(runs) + " comparison")
        if args.wandb_dry_run:
            print(json.dumps(dataclasses.asdict(report), default=str, indent=1))
        else:
            report.save()
            print(f"compare: W&B report {report.url}")
    return 0


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
