"""The comparison report, from run folders (written here as fit would write them: no training)."""

import csv
import json
import shutil
import subprocess
import tempfile

import pytest
import torch
import yaml

from lit_gen import compare
from lit_gen.image_grid import make_grid, save_png
from lit_gen.tracking import report as R

DATA = {"name": "scenes", "root": "../shared/data", "batch_size": 32, "image_size": 32, "channels": 1,
        "num_workers": 0, "val_fraction": 0.1, "scenes": {"num_train": 48, "num_test": 8, "seed": 1234,
                                                         "background": "plain"}}


def fake_run(root, name, model, losses, fid, seed):
    """A run folder as lit_gen.fit leaves it: config.yaml, metrics.csv, final_metrics.json, images/samples.png and
    images/real.png."""
    d = root / name
    (d / "images").mkdir(parents=True)
    cfg = {"seed": 0, "data": DATA, "model": {"name": model}, "metrics": {"grid_size": 16, "features": "domain",
                                                                          "num_samples": 288}, "run": {"name": name}}
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    cols = ["epoch", "step", *losses, "val/fid_domain", "val/is_domain", "val/blur_ratio", "val/fid_domain_n"]
    with (d / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for e in range(3):
            step = 9 * (e + 1) - 1
            w.writerow([e, step] + [""] * len(losses) + [fid / (e + 1), 1.0 + e, 0.3 + 0.2 * e, 288])  # val row
            w.writerow([e, step] + [2.0 - 0.1 * e] * len(losses) + ["", "", "", ""])  # train epoch row
    final = {"val/fid_domain": fid / 3, "val/is_domain": 3.0, "val/blur_ratio": 0.7, "val/fid_domain_n": 288.0,
             "train/loss_step": 1.0, "wall_time_s": 12.5}
    (d / "final_metrics.json").write_text(json.dumps(final))
    g = torch.Generator().manual_seed(seed)
    save_png(make_grid(torch.rand(16, 1, 32, 32, generator=g)), d / "images" / "samples.png", scale=2)
    real = torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(0))  # the same data: the same grid
    save_png(make_grid(real), d / "images" / "real.png", scale=2)
    return d


@pytest.fixture
def two_runs(tmp_path):
    vae = fake_run(tmp_path, "vae-scenes-1", "vae", ["train/loss_epoch", "val/loss"], fid=30.0, seed=1)
    gan = fake_run(tmp_path, "gan-scenes-1", "gan", ["train/loss_d_epoch", "train/loss_g_epoch", "val/loss_d"],
                   fid=12.0, seed=2)
    return vae, gan


def test_report_has_curves_table_samples_and_real_data(two_runs, tmp_path, capsys):
    vae, gan = two_runs
    out = tmp_path / "report"
    assert compare.main([str(vae), str(gan), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "compare: reading 2 run(s)" in printed and f"compare: wrote {out / 'report.html'}" in printed
    page = (out / "report.html").read_text()
    for stem in ("fid", "is", "blur_ratio", "losses"):
        assert (out / f"curve_{stem}.png").is_file(), stem
    assert not (out / "curve_kid.png").exists()  # not logged: no plot
    assert (out / "real_0.png").is_file()  # one real grid: both runs use the same data
    assert page.count("data:image/png;base64,") == 4 + 1 + 2  # curves, real, two sample grids: self-contained
    assert "vae-scenes-1" in page and "gan-scenes-1" in page and "vae vs gan" in page  # in the order given
    # final metrics: the GAN's lower FID is the highlighted best; per-step duplicates are left out
    row = page[page.index("<td class='k'>val/fid_domain</td>"):].split("</tr>")[0]
    assert "class='best'>4" in row and "train/loss_step" not in page
    assert "Settings that differ" in page and "model.name" in page


def test_runs_on_different_data_are_flagged(two_runs, tmp_path):
    vae, gan = two_runs
    cfg = yaml.safe_load((gan / "config.yaml").read_text())
    cfg["data"]["image_size"] = 64
    (gan / "config.yaml").write_text(yaml.safe_dump(cfg))
    runs = [R.read_run(vae), R.read_run(gan)]
    (warning,) = R.comparability_warnings(runs)
    assert "data.image_size" in warning


def test_a_folder_of_runs_stands_for_its_runs(two_runs, tmp_path):
    assert [p.name for p in R.expand_run_dirs([tmp_path])] == ["gan-scenes-1", "vae-scenes-1"]


def test_not_a_run_folder_is_one_line_exit_2(tmp_path, capsys, two_runs):
    vae, _ = two_runs
    empty = tmp_path / "empty"
    empty.mkdir()
    for bad, words in ((empty, "not a lit_gen run folder"), (tmp_path / "nowhere", "no such folder")):
        assert compare.main([str(vae), str(bad), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and words in err and str(bad) in err
    assert not (tmp_path / "o").exists()


def test_wandb_report_offline_is_one_line_exit_2(two_runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    vae, gan = two_runs
    assert compare.main([str(vae), str(gan), "--out", str(tmp_path / "o"), "--wandb-project", "p"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --wandb-project p: a W&B report needs W&B online") and err.count("\n") == 1


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium) to render the HTML")
def test_report_renders_in_a_browser(two_runs, tmp_path):
    from PIL import Image

    vae, gan = two_runs
    out = tmp_path / "report"
    assert compare.main([str(vae), str(gan), "--out", str(out), "--no-real"]) == 0
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        f"--screenshot={shot}", "--window-size=1000,1400", (out / "report.html").as_uri()],
                       capture_output=True, timeout=120)
    assert shot.is_file()
    img = Image.open(shot).convert("RGB")
    assert img.size == (1000, 1400)
    assert len(img.getcolors(1 << 20) or []) > 50  # drawn: text, plots and images, not a blank page


def test_wandb_report_dry_run_prints_the_spec_offline(two_runs, tmp_path, capsys, monkeypatch):
    """The W&B report, built but not saved: a panel per logged metric, the sample grids, runs grouped by model."""
    pytest.importorskip("wandb_workspaces", reason="wandb-workspaces missing: python -m pip install wandb-workspaces")
    import json

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    vae, gan = two_runs
    argv = [str(gan), str(vae), "--out", str(tmp_path / "r"), "--no-real", "--wandb-project", "P", "--wandb-dry-run"]
    assert compare.main(argv) == 0
    out = capsys.readouterr().out
    spec = json.loads(out[out.index("{"):])
    assert spec["title"] == "gan vs vae comparison" and spec["project"] == "P"
    grid = next(b for b in spec["blocks"] if "panels" in b)
    plotted = {p["title"] for p in grid["panels"] if "y" in p}
    assert {"val/fid_domain", "val/is_domain", "val/blur_ratio", "train/loss_epoch", "train/loss_d_epoch",
            "train/loss_g_epoch", "val/loss", "val/loss_d"} <= plotted
    assert any(p.get("media_keys") == ["images/samples"] for p in grid["panels"])
    [runset] = grid["runsets"]
    assert runset["groupby"] == ["config.model.name"] and "gan-scenes-1" in runset["filters"]


def add_precision_recall(run, points, test=None, features_id=None, ais=None):
    """Append validation rows with precision/recall (one per epoch), and test values to final_metrics.json."""
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0]) + ["val/precision_domain", "val/recall_domain"]
    for e, (p, r) in enumerate(points):
        rows.append({"epoch": e, "step": 9 * (e + 1) - 1, "val/precision_domain": p, "val/recall_domain": r})
    with (run / "metrics.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    final = json.loads((run / "final_metrics.json").read_text())
    if test:
        final.update({"test/precision_domain": test[0], "test/recall_domain": test[1]})
    if features_id:
        final["features_id"] = features_id
    (run / "final_metrics.json").write_text(json.dumps(final))
    if ais:
        (run / "checkpoints").mkdir(exist_ok=True)
        (run / "checkpoints" / "last.ais.json").write_text(json.dumps(ais))


def test_report_draws_the_precision_recall_plane_and_reads_the_ais_result(two_runs, tmp_path):
    vae, gan = two_runs
    add_precision_recall(vae, [(0.2, 0.5), (0.3, 0.6)], test=(0.31, 0.58), features_id="domain:aaaaaaaaaaaa",
                         ais={"test/ais_nll": 812.5, "bdmc/gap": 1.5, "ckpt": "x"})
    add_precision_recall(gan, [(0.5, 0.2), (0.8, 0.3)], test=(0.79, 0.31), features_id="domain:aaaaaaaaaaaa")
    out = tmp_path / "report"
    assert compare.main([str(vae), str(gan), "--out", str(out)]) == 0
    assert (out / "precision_recall_plane.png").is_file()
    html_text = (out / "report.html").read_text()
    assert "Precision-recall plane" in html_text and "test/ais_nll" in html_text and "812.5" in html_text
    assert "scored by (features_id)" in html_text and "different feature networks" not in html_text
    runs = [R.read_run(vae), R.read_run(gan)]
    assert R.best_of("test/precision_domain", [r.final["test/precision_domain"] for r in runs]) == 0.79


def test_report_warns_when_runs_were_scored_by_different_feature_nets(two_runs, tmp_path):
    vae, gan = two_runs
    add_precision_recall(vae, [(0.2, 0.5)], features_id="domain:aaaaaaaaaaaa")
    add_precision_recall(gan, [(0.5, 0.2)], features_id="domain:bbbbbbbbbbbb")
    warnings = R.comparability_warnings([R.read_run(vae), R.read_run(gan)])
    assert any("different feature networks" in w and "domain:bbbbbbbbbbbb" in w for w in warnings)


def test_wandb_report_spec_has_the_precision_recall_plane(two_runs, tmp_path, capsys, monkeypatch):
    pytest.importorskip("wandb_workspaces", reason="wandb-workspaces missing: python -m pip install wandb-workspaces")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    vae, gan = two_runs
    add_precision_recall(vae, [(0.2, 0.5)])
    argv = [str(vae), str(gan), "--out", str(tmp_path / "r"), "--no-real", "--wandb-project", "P", "--wandb-dry-run"]
    assert compare.main(argv) == 0
    out = capsys.readouterr().out
    grid = next(b for b in json.loads(out[out.index("{"):])["blocks"] if "panels" in b)
    [plane] = [p for p in grid["panels"] if str(p.get("title", "")).startswith("precision-recall plane")]
    assert plane["x"] == "val/recall_domain" and plane["y"] == "val/precision_domain"
