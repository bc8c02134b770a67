"""``python -m lit_gen.evaluate`` and the fit-time sample-quality callback, end to end (in-process CLIs; what a
real evaluate process prints: test_bad_input.py)."""

import csv
import json

import pytest
import torch

from helpers import CPU, in_process, need_data


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One epoch of a small MLP VAE on binarized MNIST (5 batches), with every metric on."""
    data = need_data("MNIST/raw")
    tmp = tmp_path_factory.mktemp("evaluate")
    cache = tmp / "cache"
    r = in_process("fit", "--config", "configs/vae_mnist.yaml", CPU, f"data.root={data}", "model.hidden=[32]",
                   "model.latent_dim=4", "trainer.max_epochs=1", "trainer.limit_train_batches=5",
                   "trainer.limit_val_batches=2", "trainer.enable_progress_bar=false", "metrics.num_samples=300",
                   "metrics.domain_max_train=2000", "metrics.kid_subsets=5", "metrics.nll_k=5", "metrics.grid_size=16",
                   f"metrics.cache_dir={cache}", "logger.name=csv", f"run.dir={tmp}", "run.name=tiny")
    assert r.returncode == 0, r.stderr[-3000:]
    return {"dir": tmp / "tiny", "cache": cache, "fit": r}


def test_fit_trains_domain_net_once_and_logs_sample_quality(tiny_run):
    d, r = tiny_run["dir"], tiny_run["fit"]
    assert "training the domain feature network" in r.stdout and "test accuracy" in r.stdout
    assert len(list((tiny_run["cache"] / "features").glob("binarized_mnist-*.pt"))) == 1
    final = json.loads((d / "final_metrics.json").read_text())
    for key in ("val/fid_domain", "val/fid_domain_n", "val/is_domain", "val/kid_domain", "val/blur", "val/blur_real",
                "val/blur_ratio", "val/blur_recon", "val/blur_ratio_recon", "test/nll", "test/nll_k"):
        assert key in final, key
    assert final["val/fid_domain_n"] == 300 and final["test/nll_k"] == 5
    assert final["val/fid_domain"] > 0 and final["test/nll"] > 0
    rows = list(csv.DictReader((d / "metrics.csv").open()))
    assert any(row.get("val/fid_domain") for row in rows) and any(row.get("test/nll") for row in rows)


def test_evaluate_prints_one_json_object_and_writes_it(tiny_run):
    ckpt = tiny_run["dir"] / "checkpoints" / "last.ckpt"
    r = in_process("evaluate", "--ckpt", ckpt, "metrics.nll_k=10", "metrics.num_samples=200", "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "training the domain feature network" not in r.stderr  # reused from fit's cache
    out = json.loads(r.stdout)  # stdout is exactly one JSON object
    assert out["model"] == "vae" and out["data"] == "binarized_mnist" and out["features"] == "domain"
    for key in ("test/fid_domain", "test/fid_domain_n", "test/is_domain", "test/kid_domain", "test/blur_ratio",
                "test/blur_ratio_recon", "test/nll", "test/nll_k", "test/nll_n"):
        assert key in out, key
    assert out["test/nll_k"] == 10 and out["test/fid_domain_n"] == 200 and out["test/nll_n"] == 10000
    written = ckpt.with_name("last.eval.json")
    assert json.loads(written.read_text()) == out


def test_evaluate_rejects_bad_overrides_in_one_line(tiny_run):
    ckpt = tiny_run["dir"] / "checkpoints" / "last.ckpt"
    r = in_process("evaluate", "--ckpt", ckpt, "metrics.nll_k=-1")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "metrics.nll_k" in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1 and r.stdout == ""


@pytest.mark.parametrize("kind", ["missing", "garbage", "foreign"])
def test_evaluate_bad_checkpoint_is_exit_2_one_line(tmp_path, kind):
    path = tmp_path / "model.ckpt"
    if kind == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 10)
    elif kind == "foreign":
        torch.save({"state_dict": {}, "epoch": 0}, path)
    r = in_process("evaluate", "--ckpt", path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert str(path) in r.stderr and r.stdout == ""
