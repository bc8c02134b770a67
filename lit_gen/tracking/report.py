"""Read run folders and write a self-contained HTML comparison report (``python -m lit_gen.compare``).

Everything comes from the run folders, offline: ``config.yaml``, ``metrics.csv``
(Lightning's CSVLogger: one row per logging event, empty cells elsewhere),
``final_metrics.json``, ``images/samples.png`` and ``images/real.png`` (the real training images that
``fit`` draws beside its samples). The HTML embeds every PNG (base64), so the one file can be
mailed or attached; the PNGs are written beside it as well.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
import string
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import yaml

from lit_gen.errors import UserError
from lit_gen.storage import atomic_path, copy_atomic, write_text_atomic

# curves: (title, file stem, which metrics.csv columns, shared axes across runs?)
CURVES = [
    ("FID (lower is better)", "fid", re.compile(r"^(val|test)/fid_[a-z0-9]+$"), True),
    ("Inception Score (higher is better)", "is", re.compile(r"^(val|test)/is_[a-z0-9]+$"), True),
    ("KID (lower is better)", "kid", re.compile(r"^(val|test)/kid_[a-z0-9]+$"), True),
    ("Precision and recall (fidelity and diversity; higher is better)", "precision_recall",
     re.compile(r"^val/(precision|recall)_[a-z0-9]+$"), True),
    ("Density and coverage", "density_coverage", re.compile(r"^val/(density|coverage)_[a-z0-9]+$"), True),
    ("Blur ratio: sharpness of samples / real (1 = as sharp as the data)", "blur_ratio",
     re.compile(r"^val/blur_ratio(_recon)?$"), True),
    ("ELBO (nats, higher is better)", "elbo", re.compile(r"^(train/elbo_epoch|val/elbo)$"), True),
    # losses mean different things per model (ELBO terms, D and G losses): one panel per run
    ("Losses", "losses", re.compile(r"^(train/(\w*_)?loss(_\w+)?_epoch|val/(\w*_)?loss(_[a-z]+)?)$"), False),
]
LOWER_BETTER = re.compile(r"/((fid|kid)_[a-z0-9]+|nll|nll_bpd|ais_nll)$")  # not the _n / _std companions
HIGHER_BETTER = re.compile(r"/((is|precision|recall|coverage)_[a-z0-9]+|elbo)$")
COUNTS = re.compile(r"(_n|_n_real|_k|_std|_n_\w+)$")
HEADLINE = [re.compile(p) for p in (r"/fid_[a-z0-9]+$", r"/is_[a-z0-9]+$", r"/kid_[a-z0-9]+$",
                                    r"/precision_[a-z0-9]+$", r"/recall_[a-z0-9]+$", r"/density_[a-z0-9]+$",
                                    r"/coverage_[a-z0-9]+$", r"/blur_ratio$",
                                    r"/blur_ratio_recon$", r"^test/nll$", r"^test/nll_bpd$", r"^val/elbo$")]
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]


@dataclass
class RunRecord:
    path: Path
    label: str
    config: dict
    rows: list = field(default_factory=list)  # metrics.csv rows: {column: float}
    columns: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    wandb_id: Optional[str] = None

    @property
    def model(self) -> str:
        return str((self.config.get("model") or {}).get("name", "?"))

    @property
    def data(self) -> str:
        return str((self.config.get("data") or {}).get("name", "?"))

    @property
    def samples(self) -> Optional[Path]:
        p = self.path / "images" / "samples.png"
        return p if p.is_file() else None

    def series(self, column: str) -> tuple[list, list]:
        xs, ys = [], []
        for row in self.rows:
            v = row.get(column)
            if v is not None and math.isfinite(v):
                xs.append(row.get("step", len(xs)))
                ys.append(v)
        return xs, ys

    @property
    def last_step(self) -> Optional[int]:
        steps = [r["step"] for r in self.rows if r.get("step") is not None]
        return int(max(steps)) if steps else None

    @property
    def epochs(self) -> Optional[int]:
        epochs = [r["epoch"] for r in self.rows if r.get("epoch") is not None]
        return int(max(epochs)) + 1 if epochs else None


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def expand_run_dirs(paths: list) -> list[Path]:
    """Run folders as given; a folder of run folders (e.g. a sweep's) stands for the runs inside it."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise UserError(f"{raw}: no such folder")
        if not p.is_dir():
            raise UserError(f"{raw}: not a folder; pass run folders such as runs/vae-scenes-20261124-050102")
        if is_run_dir(p):
            out.append(p)
            continue
        inner = sorted(q for q in p.iterdir() if q.is_dir() and is_run_dir(q))
        if not inner:
            raise UserError(f"{raw}: not a lit_gen run folder (no config.yaml); pass folders such as "
                            f"runs/vae-scenes-20261124-050102, which python -m lit_gen.fit prints")
        out += inner
    seen, unique = set(), []
    for p in out:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    return unique


def _float(v: str) -> Optional[float]:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        return None


def read_metrics_csv(path: Path) -> tuple[list, list]:
    if not path.is_file():
        return [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = [{k: _float(v) for k, v in row.items() if k is not None} for row in reader]
    return rows, columns


def wandb_run_id(run_dir: Path) -> Optional[str]:
    runs = sorted((run_dir / "wandb").glob("offline-run-*-*")) + sorted((run_dir / "wandb").glob("run-*-*"))
    return runs[-1].name.rsplit("-", 1)[-1] if runs else None


def read_run(path: Path, label: Optional[str] = None) -> RunRecord:
    try:
        config = yaml.safe_load((path / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"{path}: config.yaml is unreadable ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: config.yaml is not a lit_gen config")
    rows, columns = read_metrics_csv(path / "metrics.csv")
    final = {}
    fm = path / "final_metrics.json"
    if fm.is_file():
        try:
            final = json.loads(fm.read_text())
        except ValueError:
            final = {}
    ais = path / "checkpoints" / "last.ais.json"  # python -m lit_gen.ais's result on the last checkpoint
    if ais.is_file():
        try:
            final.update({k: v for k, v in json.loads(ais.read_text()).items() if "/" in k})
        except (ValueError, AttributeError):
            pass
    if not rows and not final:
        raise UserError(f"{path}: no metrics yet (no metrics.csv or final_metrics.json); has it trained?")
    return RunRecord(path=path, label=label or path.name, config=config, rows=rows, columns=columns, final=final,
                     wandb_id=wandb_run_id(path))


def unique_labels(paths: list[Path]) -> list[str]:
    names = [p.name for p in paths]
    return [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]


# --- real data -------------------------------------------------------------------------------
def real_grid(run: RunRecord) -> tuple[Optional[Path], str]:
    """The run's own grid of real training images (``fit`` writes ``images/real.png``). Returns (png or None, note)."""
    own = run.path / "images" / "real.png"
    if own.is_file():
        return own, "images/real.png of the run"
    return None, "the run folder has no images/real.png (vector data, or a run from before lit_gen wrote it)"


# --- plots -----------------------------------------------------------------------------------
def plot_curves(runs: list[RunRecord], out_dir: Path, colors: dict) -> list[tuple[str, Path, list]]:
    """One PNG per curve family that any run logged: [(title, png, columns)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    for title, stem, pattern, shared in CURVES:
        per_run = [(r, [c for c in r.columns if pattern.match(c) and r.series(c)[1]]) for r in runs]
        per_run = [(r, cols) for r, cols in per_run if cols]
        if not per_run:
            continue
        styles = ["-", "--", ":", "-."]
        if shared:
            fig, ax = plt.subplots(figsize=(7.5, 3.6))
            axes = {id(r): ax for r, _ in per_run}
        else:
            fig, axs = plt.subplots(1, len(per_run), figsize=(min(7.5 * len(per_run), 15), 3.6), squeeze=False)
            axes = {id(r): a for (r, _), a in zip(per_run, axs[0])}
        all_cols = []
        for r, cols in per_run:
            ax = axes[id(r)]
            for j, c in enumerate(cols):
                xs, ys = r.series(c)
                color = colors[r.label] if shared else COLORS[j % len(COLORS)]
                label = f"{r.label}: {c}" if shared else c
                ax.plot(xs, ys, styles[j % len(styles)] if shared else "-", color=color, marker="o", markersize=3,
                        linewidth=1.5, label=label)
                all_cols.append(c)
            if not shared:
                ax.set_title(r.label, fontsize=9)
        for ax in set(axes.values()):
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        png = out_dir / f"curve_{stem}.png"
        with atomic_path(png, keep_suffix=True) as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
        made.append((title, png, sorted(set(all_cols))))
    return made


# --- tables ----------------------------------------------------------------------------------
def plot_precision_recall(runs: list[RunRecord], out_dir: Path, colors: dict) -> Optional[tuple[str, Path, list]]:
    """Each run on the precision-recall plane: its validation epochs as a path, its test value as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    used = []
    for r in runs:
        for prec in [c for c in r.columns if re.match(r"^val/precision_[a-z0-9]+$", c)]:
            rec = prec.replace("/precision_", "/recall_")
            pts = [(row[rec], row[prec]) for row in r.rows if row.get(prec) is not None and row.get(rec) is not None]
            if not pts:
                continue
            used += [prec, rec]
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "-o", ms=3, color=colors[r.label], alpha=0.7, label=f"{r.label} ({prec.split('_')[-1]})")
            ax.annotate("last", (xs[-1], ys[-1]), fontsize=7, color=colors[r.label])
            test_p, test_r = r.final.get(prec.replace("val/", "test/")), r.final.get(rec.replace("val/", "test/"))
            if isinstance(test_p, (int, float)) and isinstance(test_r, (int, float)):
                ax.plot([test_r], [test_p], "*", ms=12, color=colors[r.label])
    if not used:
        plt.close(fig)
        return None
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="recall (diversity)", ylabel="precision (fidelity)",
           title="precision-recall plane (path: epochs; star: test)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    png = out_dir / "precision_recall_plane.png"
    fig.tight_layout()
    with atomic_path(png, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return "Precision-recall plane", png, sorted(set(used))


def table_keys(runs: list[RunRecord]) -> list[str]:
    """Final-metric keys worth a row: no per-step duplicates; headline metrics first, then the rest."""
    keys = set()
    for r in runs:
        for k, v in r.final.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or k.endswith("_step"):
                continue
            if k.endswith("_epoch") and k[: -len("_epoch")] in r.final:
                continue  # train/x_epoch duplicates train/x
            keys.add(k)

    def order(k):
        for i, p in enumerate(HEADLINE):
            if p.search(k):
                return (0, i, k)
        if k == "wall_time_s":
            return (4, 0, k)
        if COUNTS.search(k):
            return (3, 0, k)
        return (1 if k.startswith("val/") or k.startswith("test/") else 2, 0, k)

    return sorted(keys, key=order)


def best_of(key: str, values: list) -> Optional[float]:
    nums = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(nums) < 2:
        return None
    if LOWER_BETTER.search(key):
        return min(nums)
    if HIGHER_BETTER.search(key):
        return max(nums)
    if key.endswith("/blur_ratio") or key.endswith("/blur_ratio_recon"):
        positive = [v for v in nums if v > 0]
        return min(positive, key=lambda v: abs(math.log(v))) if positive else None
    return None


def flatten(d, prefix="") -> dict:
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def normalized(config: dict) -> dict:
    """The config with the current schema's defaults filled into ``data`` and ``metrics``: a key a run
    does not have (it predates the key) then reads as the default it ran with, not as a difference."""
    from omegaconf import OmegaConf

    from lit_gen.config.schema import DataConfig, MetricsConfig

    out = dict(config)
    for key, schema in (("data", DataConfig), ("metrics", MetricsConfig)):
        try:
            merged = OmegaConf.merge(OmegaConf.structured(schema), config.get(key) or {})
            out[key] = OmegaConf.to_container(merged, resolve=False)
        except Exception:  # noqa: BLE001 - a run from another version: keep its keys as they are
            pass
    return out


ABSENT = object()  # a key one run's config does not have (e.g. another model's key)


def differing_settings(runs: list[RunRecord]) -> dict[str, list]:
    """{flattened key: [value per run]} for the keys whose values differ (``ABSENT`` where a run lacks it)."""
    flat = [flatten(normalized(r.config)) for r in runs]
    keys = sorted(set().union(*flat), key=lambda k: (k != "model.name", k)) if flat else []
    out = {}
    for k in keys:
        if k == "run.name":
            continue
        values = [f.get(k, ABSENT) for f in flat]
        if len({"\0absent" if v is ABSENT else json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            out[k] = values
    return out


def comparability_warnings(runs: list[RunRecord]) -> list[str]:
    """Sample-quality numbers compare only on the same data and the same metric settings."""
    if len(runs) < 2:
        return []
    diff = differing_settings(runs)
    out = []
    data_keys = [k for k in diff if k.startswith("data.") and k not in ("data.batch_size", "data.num_workers")]
    metric_keys = [k for k in diff if k.startswith("metrics.") and k in (
        "metrics.num_samples", "metrics.features", "metrics.inception_weights", "metrics.domain_epochs",
        "metrics.domain_max_train", "metrics.domain_weights", "metrics.kid_subsets", "metrics.pr_k", "metrics.dc_k",
        "metrics.nll_k")]
    if data_keys:
        out.append("The runs differ in their data (" + ", ".join(data_keys) + "): FID, IS, KID and blur numbers are "
                   "measured against different real images and do not compare directly.")
    if metric_keys:
        out.append("The runs differ in their metric settings (" + ", ".join(metric_keys) + "): sample-quality numbers "
                   "depend on N and the feature network, so compare them with care.")
    nets = {r.final.get("features_id") for r in runs if r.final.get("features_id")}
    if len(nets) > 1:
        out.append("The runs were scored by different feature networks (" + ", ".join(sorted(nets)) + "): their FID, "
                   "KID, IS, precision and recall do not compare; score them with one net "
                   "(metrics.domain_weights=FILE, from python -m lit_gen.features --export FILE).")
    return out


# --- HTML ------------------------------------------------------------------------------------
# the page and its repeated pieces are string.Template texts in report.html (package data), each after a marker line
TEMPLATE_FILE = Path(__file__).with_name("report.html")
_MARKER = re.compile(r"^<!-- template: (\w+) -->\n", re.M)


class Markup(str):
    """HTML already built from escaped pieces: filled into a template as it is."""


def _templates() -> dict[str, string.Template]:
    parts = _MARKER.split(TEMPLATE_FILE.read_text())[1:]  # [name, text, name, text, ...]
    return {name: string.Template(text.rstrip("\n")) for name, text in zip(parts[::2], parts[1::2])}


def _piece(templates: dict, name: str, **values) -> Markup:
    """Template ``name`` filled in: a :class:`Markup` value as it is, anything else as escaped text."""
    return Markup(templates[name].substitute(
        {k: v if isinstance(v, Markup) else html.escape(str(v)) for k, v in values.items()}))


def _join(pieces) -> Markup:
    return Markup("\n".join(pieces))


def _img(t: dict, png: Path, alt: str, css: str = "") -> Markup:
    return _piece(t, "image", data=base64.b64encode(png.read_bytes()).decode(), alt=alt, css=css)


def _fmt(v) -> Markup:
    if v is None:
        return Markup("–")
    if isinstance(v, bool):
        return Markup(str(v))
    if isinstance(v, float):
        if v != v:
            return Markup("nan")
        if abs(v) >= 1e5 or (v != 0 and abs(v) < 1e-3):
            return Markup(f"{v:.3e}")
        return Markup(f"{v:.4g}")
    return Markup(html.escape(str(v)))


def _final_table(t: dict, runs: list[RunRecord], colors: dict) -> Markup:
    keys = table_keys(runs)
    if not keys:
        return _piece(t, "no_final")
    rows = []
    for k in keys:
        values = [r.final.get(k) for r in runs]
        best = best_of(k, values)
        cells = "".join(_piece(t, "cell", css="best" if best is not None and v == best else "", value=_fmt(v))
                        for v in values)
        rows.append(_piece(t, "row", key=k, cells=Markup(cells)))
    if any(r.final.get("features_id") for r in runs):
        cells = "".join(_piece(t, "cell", css="", value=_fmt(r.final.get("features_id"))) for r in runs)
        rows.append(_piece(t, "row", key="scored by (features_id)", cells=Markup(cells)))
    heads = "".join(_piece(t, "final_head", swatch=_piece(t, "swatch", color=colors[r.label]), label=r.label)
                    for r in runs)
    return _piece(t, "final_table", heads=Markup(heads), rows=_join(rows))


def _settings_table(t: dict, runs: list[RunRecord]) -> Markup:
    if len(runs) < 2:
        return Markup("")
    diff = differing_settings(runs)
    if not diff:
        return _piece(t, "settings_same")
    rows = []
    for k, vals in list(diff.items())[:60]:
        cells = "".join(_piece(t, "cell", css="k", value="–" if v is ABSENT else json.dumps(v, default=str))
                        for v in vals)
        rows.append(_piece(t, "row", key=k, cells=Markup(cells)))
    more = _piece(t, "settings_more", count=len(diff) - 60) if len(diff) > 60 else Markup("")
    heads = "".join(_piece(t, "settings_head", label=r.label) for r in runs)
    return _piece(t, "settings_table", heads=Markup(heads), rows=_join(rows), more=more)


def build_html(runs: list[RunRecord], colors: dict, real: list, curves: list, warnings: list, command: str) -> str:
    t = _templates()
    run_rows = []
    for r in runs:
        wall = r.final.get("wall_time_s")
        run_rows.append(_piece(t, "run_row", swatch=_piece(t, "swatch", color=colors[r.label]), label=r.label,
                               folder=str(r.path), model=r.model, data=r.data, epochs=_fmt(r.epochs),
                               steps=_fmt(r.last_step),
                               wall=Markup(_fmt(wall) + " s") if isinstance(wall, (int, float)) else Markup("–"),
                               wandb_id=r.wandb_id or "–"))
    grids = [_piece(t, "real_grid", image=_img(t, png, label), label=label, note=note)
             for label, png, note in real if png is not None]
    for r in runs:
        if r.samples is not None:
            grids.append(_piece(t, "sample_grid", image=_img(t, r.samples, r.label), label=r.label, model=r.model,
                                swatch=_piece(t, "swatch", color=colors[r.label])))
        else:
            grids.append(_piece(t, "no_samples", label=r.label))
    plots = [_piece(t, "plot", wide=" wide" if png.stem == "curve_losses" and len(runs) > 1 else "",
                    image=_img(t, png, title), columns=", ".join(cols)) for title, png, cols in curves]
    return _piece(
        t, "page",
        title=" vs ".join(dict.fromkeys(r.model for r in runs)),  # in the order the runs were given
        datas=", ".join(sorted({r.data for r in runs})), n_runs=len(runs), when=f"{datetime.now():%Y-%m-%d %H:%M}",
        command=command, warnings=_join(_piece(t, "warning", text=w) for w in warnings), run_rows=_join(run_rows),
        grids=_join(grids),
        real_missing=_join(_piece(t, "real_missing", label=label, note=note) for label, png, note in real if png is None),
        no_curves=Markup("") if curves else _piece(t, "no_curves"), plots=_join(plots),
        final=_final_table(t, runs, colors), settings=_settings_table(t, runs),
    )


def write_report(run_dirs: list, out: Path, command: str = "python -m lit_gen.compare",
                 echo: Callable[[str], None] = print, real_data: bool = True) -> Path:
    """Read the runs, plot, and write ``out/report.html`` (plus its PNGs). Returns the HTML's path."""
    paths = expand_run_dirs(run_dirs)
    labels = unique_labels(paths)
    echo(f"compare: reading {len(paths)} run(s)")
    runs = [read_run(p, label) for p, label in zip(paths, labels)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    colors = {r.label: COLORS[i % len(COLORS)] for i, r in enumerate(runs)}

    real = []
    if real_data:
        seen = {}
        for r in runs:
            key = json.dumps(normalized(r.config).get("data"), sort_keys=True, default=str) + str(
                (r.config.get("metrics") or {}).get("grid_size"))
            if key in seen:
                continue
            label = f"real data ({r.data})" if len(seen) == 0 else f"real data ({r.data}, as in {r.label})"
            echo(f"compare: real images for {r.label} (data.name={r.data})")
            png, note = real_grid(r)
            if png is None:
                echo(f"compare: {note}")
            else:
                png = copy_atomic(png, out / f"real_{len(seen)}.png")
            seen[key] = True
            real.append((label, png, note))
    echo("compare: plotting curves")
    curves = plot_curves(runs, out, colors)
    plane = plot_precision_recall(runs, out, colors)
    if plane is not None:
        curves.insert(0, plane)
    html_text = build_html(runs, colors, real, curves, comparability_warnings(runs), command)
    for i, r in enumerate(runs):
        if r.samples is not None:
            copy_atomic(r.samples, out / f"samples_{i}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', r.label)}.png")
    report = out / "report.html"
    write_text_atomic(report, html_text)
    return report
