"""The CLI end to end: ``lit_gen.fit``'s main, run in-process as ``python -m lit_gen.fit`` runs it, and the
``python -m`` entry points of every CLI. (W&B runs: test_tracking.py; what a real process prints on a mistake:
test_bad_input.py; a real training process: test_resume_crash.py, test_ddp.py.)"""

import csv
import json

import pytest
import torch

from helpers import in_process, python_m, small

# whole epochs, with the sample-quality metrics on (domain features, IW-NLL): the path of a default run
RUN = small("vae", "data.scenes.num_train=320", "data.scenes.num_test=64", "data.batch_size=32",
            "trainer.limit_train_batches=null", "trainer.limit_val_batches=null", "metrics.grid_size=16",
            "metrics.num_samples=200", "metrics.nll_k=5", "metrics.features=domain", "metrics.domain_epochs=1")


def test_fit_writes_checkpoint_samples_metrics_and_resumes(tmp_path):
    run = [*RUN, f"run.dir={tmp_path}", "run.name=smoke"]
    r = in_process("fit", *run, "trainer.max_epochs=1")
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path / "smoke"
    assert f"run folder {d}" in r.stdout
    for f in ("config.yaml", "metrics.csv", "final_metrics.json", "checkpoints/last.ckpt", "images/samples.png",
              "images/reconstructions.png"):
        assert (d / f).is_file(), f
    rows = list(csv.DictReader((d / "metrics.csv").open()))
    assert any(row.get("val/elbo") for row in rows) and any(row.get("train/kl_epoch") for row in rows)
    final = json.loads((d / "final_metrics.json").read_text())
    assert final["val/elbo"] < 0 and final["val/kl"] > 0

    ckpt = torch.load(d / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["lit_gen"]["model"] == "vae" and "model:" in ckpt["lit_gen"]["config"]
    steps_after_one_epoch = ckpt["global_step"]

    # resume: one more epoch from last.ckpt continues the counters
    r = in_process("fit", *run, "trainer.max_epochs=2", "ckpt_path=last")
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = torch.load(d / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 2 * steps_after_one_epoch and ckpt["epoch"] == 1


def test_fit_user_errors_are_one_line(tmp_path):
    r = in_process("fit", "--config", "configs/vae.yaml", "data.name=mnist", f"data.root={tmp_path}/nowhere",
            f"run.dir={tmp_path}")
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert "nowhere" in r.stderr
    r = in_process("fit", "--config", "configs/vae.yaml", "ckpt_path=last", f"run.dir={tmp_path}")
    assert r.returncode == 2 and "ckpt_path=last" in r.stderr


@pytest.mark.parametrize("cli", ["fit", "evaluate", "sweep", "disentangle", "complete", "compare", "features", "sample", "ais"])
def test_python_m_entry_point(cli):
    r = python_m(f"lit_gen.{cli}", "--help")  # cheap: --help answers before torch is imported
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith(f"usage: python -m lit_gen.{cli} ") and r.stderr == ""
