"""The device check is ready before a device is lent: benchmarks/bench_device.py runs end to end on the CPU."""

import json
import re
import subprocess
import sys

import pytest

from helpers import REPO, need_data, process_env


@pytest.mark.slow
def test_the_device_check_runs_on_the_cpu(tmp_path):
    out = tmp_path / "device.json"
    r = subprocess.run([sys.executable, "benchmarks/bench_device.py", "--accelerator", "cpu", "--precisions", "32-true",
                        "--models", "vae", "--steps", "5", "--warmup", "1", "--repeats", "1", "--scenes", "128",
                        "--nll-images", "4", "--nll-k", "10", "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, env=process_env(), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    figures = json.loads(out.read_text())
    (row,) = figures["training"]
    assert row["model"] == "vae" and row["img_per_s"] > 0 and row["gflop_per_step"] > 0 and 0 < row["mfu"] < 1
    assert row["loader_img_per_s"] > 0 and figures["iw_nll"]["samples_per_s"] > 0
    assert figures["ddp_1_device"]["returncode"] == 0 and figures["ddp_1_device"]["checkpoint"]
    assert "MFU" in r.stdout and "DDP, 1 device" in r.stdout


def test_the_optimizer_benchmark_compares_fused_and_loop_steps():
    need_data("binarized_mnist")
    r = subprocess.run([sys.executable, "benchmarks/bench_optim.py", "--models", "vae_mnist", "--steps", "3",
                        "--repeats", "2"], cwd=REPO, capture_output=True, text=True, env=process_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    line = r.stdout.strip().splitlines()[-1]
    assert "12 tensors, 425,284 parameters" in line and "fused / loop" in line
    assert float(line.split("difference after 8 steps ")[1]) < 1e-5  # the same update to float rounding


def test_the_iw_nll_benchmark_prints_a_fraction_of_the_limit_per_budget():
    r = subprocess.run([sys.executable, "benchmarks/bench_iwnll.py", "--images", "4", "--k", "50", "--budget", "64",
                        "200", "--repeats", "2"], cwd=REPO, capture_output=True, text=True, env=process_env(),
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert "freed memory kept in the process:" in lines[0] and "4 images x k=50" in lines[0]
    rows = {int(line.split()[0]): line.split() for line in lines[2:]}
    assert sorted(rows) == [64, 200]
    assert rows[200][1:4] == ["50", "x", "4"]  # chunk x images of plan(50, 200)
    assert all(0 < float(row[-3]) < 2 for row in rows.values())  # the median fraction of the limit


def test_the_faces_benchmark_prints_each_batch_kind_and_the_ratio_to_consumption(face_root):
    r = subprocess.run([sys.executable, "benchmarks/bench_faces.py", "--size", "32", "--repeats", "1", "--steps", "2",
                        "--batches", "4"], cwd=REPO, capture_output=True, text=True, env=process_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    per_kind = lines[-2].split(": ", 1)[1]  # "pose 11.4, light 2.6, identity 36.1"
    ms = {kind: float(v) for kind, v in (part.split() for part in per_kind.split(", "))}
    assert sorted(ms) == ["identity", "light", "pose"] and all(v > 0 for v in ms.values())
    ratio = lines[-1]
    assert ratio.startswith("factor batches / consumption: ") and float(ratio.split(": ")[1].split("x")[0]) > 0


def test_the_overhead_benchmark_runs_the_hand_step_through_lightning_beside_the_mlp_vae():
    need_data("binarized_mnist")
    r = subprocess.run([sys.executable, "benchmarks/bench_overhead.py", "--models", "vae_mnist", "--steps", "14",
                        "--warmup", "4", "--repeats", "1", "--variants", "hand", "bare", "lightning"], cwd=REPO,
                       capture_output=True, text=True, env=process_env(OMP_NUM_THREADS="1"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("Lightning's loop alone on vae_mnist's hand-written")]
    wall, cpu = map(float, re.search(r"wall ([0-9.]+), CPU ([0-9.]+): the best reachable ratio$", line).groups())
    assert wall > 0 and cpu > 0
    assert "target lightning/hand <= 1.05, vae_mnist:" in r.stdout


def test_the_loader_benchmark_compares_the_training_loader_with_plain_slices():
    need_data("MNIST/raw")
    r = subprocess.run([sys.executable, "benchmarks/bench_loader.py", "--repeats", "1", "data.name=mnist"], cwd=REPO,
                       capture_output=True, text=True, env=process_env(OMP_NUM_THREADS="1"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lit, floor, ratio = map(float, re.search(r"lit_gen ([0-9.]+), slices ([0-9.]+), lit_gen / slices ([0-9.]+)$",
                                             r.stdout.strip()).groups())
    assert lit > 0 and floor > 0 and ratio > 0
    bad = subprocess.run([sys.executable, "benchmarks/bench_loader.py", "data.root=/no/such/folder"], cwd=REPO,
                         capture_output=True, text=True, env=process_env(OMP_NUM_THREADS="1"), timeout=300)
    assert bad.returncode != 0 and "data.root=" in bad.stderr and "Traceback" not in bad.stderr


def test_the_prdc_benchmark_agrees_with_the_reference_and_prints_ratios():
    pytest.importorskip("prdc", reason="the reference package prdc is a test dependency (pip install prdc)")
    r = subprocess.run([sys.executable, "benchmarks/bench_prdc.py", "--n", "600", "--dim", "16", "--repeats", "1",
                        "--chunks", "64"], cwd=REPO, capture_output=True, text=True,
                       env=process_env(OMP_NUM_THREADS="1"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ratio, mem = map(float, re.search(r"time / prdc ([0-9.]+), peak extra / full matrix ([0-9.]+)", r.stdout).groups())
    assert ratio > 0 and mem >= 0
    diff = float(re.search(r"lit_gen chunk=64: .*max \|diff\| vs prdc ([0-9.e+-]+)\)", r.stdout).group(1))
    assert diff < 1e-9


def test_the_disentanglement_benchmark_times_each_score():
    r = subprocess.run([sys.executable, "benchmarks/bench_disentangle.py", "--n", "400", "--factors", "5", "8",
                        "--latents", "4", "--votes", "30", "10"], cwd=REPO, capture_output=True, text=True,
                       env=process_env(OMP_NUM_THREADS="1"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for score in ("MIG", "SAP svm", "FactorVAE", "DCI gbt"):
        assert re.search(rf"^{score} +[0-9.]+ s", r.stdout, re.M), (score, r.stdout)
