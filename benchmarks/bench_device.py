"""The device check: one prepared script for a lent accelerator, that also runs on the CPU (a smoke run).

    python benchmarks/bench_device.py --accelerator cuda --precisions bf16-mixed 32-true --peak-tflops 989 \
        --out $OUT/device.json

1. Training throughput, img/s, of DCGAN-64 (configs/gan.yaml at 64 px) and the conv VAE (configs/vae.yaml), built
   as ``python -m lit_gen.fit`` builds them and trained by ``lightning.Trainer`` on batches held in memory (Lightning
   moves each to the device, as in a run), at each ``--precisions``.
2. Model FLOPs per training step (``torch.utils.flop_counter`` on one step's forwards and backwards: the GAN's D and
   G updates, the VAE's ELBO) and the MFU: FLOPs/s over ``--peak-tflops`` (the device's dense bf16 peak; an H200
   SXM: 989). The FLOPs are the model's, whatever the precision; the MFU is against the bf16 peak for every row.
3. The data path: img/s of the real training loader (what a step waits on; the scenes rendered at build time) over
   the training consumption of 1.
4. The IW-NLL throughput: importance samples/s of ``iw_log_likelihood`` with configs/vae_mnist.yaml's net (random
   weights and binary images: the cost does not depend on them), ``metrics.nll_batch`` 16384.
5. A 1-device DDP run through the real CLI (``trainer.strategy=ddp trainer.devices=1``, 20 steps): its exit code and
   wall time.

Prints one table; ``--out`` also writes the figures as JSON. Record them, with the command, in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_overhead import lightning_step, load, preload  # noqa: E402

MODELS = {"dcgan64": ("configs/gan.yaml", ["data.image_size=64"]), "vae": ("configs/vae.yaml", [])}


def step_flops(model, batch: dict, device: torch.device) -> int:
    """Forward and backward FLOPs of one training step of ``model`` on ``batch``."""
    from torch.utils.flop_counter import FlopCounterMode

    model = model.to(device).train()
    x = batch["image"].to(device)
    with FlopCounterMode(display=False) as counter:
        if model.model_cfg.name == "gan":
            real = x * 2 - 1
            model.d_terms(real)["loss_d"].backward()
            model.g_terms(len(real), real)["loss_g"].backward()
        else:
            model.loss_terms(x)["loss"].mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def loader_rate(dm, batches: int) -> float:
    """img/s of the training loader over ``batches`` batches (after one untimed batch; epochs restart as needed)."""
    def stream():
        while True:
            yield from dm.train_dataloader()

    it = stream()
    n = len(next(it)["image"])
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * n / (time.perf_counter() - t)


def training(name: str, a) -> list:
    config, overrides = MODELS[name]
    cfg, dm, template = load(config, [*overrides, f"data.scenes.num_train={a.scenes}"])
    batches = preload(dm, a.steps)
    n = batches[0]["image"].shape[0]
    flops = step_flops(template.__class__(template.model_cfg, template.optim_cfg, template.data), batches[0],
                       torch.device(a.device))
    data_rate = loader_rate(dm, min(a.steps, 50))
    rows = []
    for precision in a.precisions:
        times = []
        for _ in range(a.repeats):
            model = template.__class__(template.model_cfg, template.optim_cfg, template.data)
            model.load_state_dict(template.state_dict())
            times.append(lightning_step(model, batches, a.warmup, log_every_n_steps=int(cfg.trainer.log_every_n_steps),
                                        accelerator=a.accelerator, precision=precision)[0])
        per_step = statistics.median(times)
        rows.append({"model": name, "precision": precision, "batch": n, "img_per_s": n / per_step,
                     "ms_per_step": 1e3 * per_step, "gflop_per_step": flops / 1e9,
                     "mfu": flops / per_step / (a.peak_tflops * 1e12), "loader_img_per_s": data_rate,
                     "loader_over_consumption": data_rate * per_step / n})
    return rows


def iw_nll_rate(a) -> dict:
    from bench_iwnll import model as nll_model

    from lit_gen.metrics.likelihood import iw_log_likelihood

    vae = nll_model().to(a.device)
    x = (torch.rand(a.nll_images, 1, 28, 28, generator=torch.Generator().manual_seed(0)) < 0.13).float().to(a.device)
    iw_log_likelihood(vae, x[:2], 10, a.nll_batch)  # untimed: one-time costs
    times = []
    for _ in range(a.repeats):
        sync(a.device)
        t = time.perf_counter()
        iw_log_likelihood(vae, x, a.nll_k, a.nll_batch)
        sync(a.device)
        times.append(time.perf_counter() - t)
    t = statistics.median(times)
    return {"images": a.nll_images, "k": a.nll_k, "seconds": t, "samples_per_s": a.nll_images * a.nll_k / t}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def ddp_run(a) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench_device_ddp_"))
    cmd = [sys.executable, "-m", "lit_gen.fit", "--config", "configs/gan.yaml", f"trainer.accelerator={a.accelerator}",
           "trainer.devices=1", "trainer.strategy=ddp", "trainer.max_steps=20", "trainer.max_epochs=null",
           "trainer.limit_val_batches=2", "trainer.enable_progress_bar=false", f"data.scenes.num_train={a.scenes}",
           "metrics.features=none", "metrics.nll_k=0", "metrics.num_samples=64", "logger.name=csv",
           f"run.dir={folder}", "run.name=ddp"]
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, WANDB_MODE="offline"))
    return {"returncode": r.returncode, "seconds": time.perf_counter() - t,
            "checkpoint": (folder / "ddp" / "checkpoints" / "last.ckpt").is_file(),
            "stderr_tail": r.stderr[-500:] if r.returncode else ""}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accelerator", default="cuda", help="Lightning's accelerator (cuda, or cpu for a smoke run)")
    p.add_argument("--precisions", nargs="+", default=["bf16-mixed", "32-true"])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--peak-tflops", type=float, default=989.0, help="the device's dense bf16 peak (H200 SXM: 989)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scenes", type=int, default=4000, help="training scenes built (data.scenes.num_train)")
    p.add_argument("--nll-images", type=int, default=1000)
    p.add_argument("--nll-k", type=int, default=5000)
    p.add_argument("--nll-batch", type=int, default=16384, help="metrics.nll_batch of the IW-NLL")
    p.add_argument("--no-ddp", action="store_true")
    p.add_argument("--out", default=None, help="also write the figures here as JSON")
    a = p.parse_args()
    if a.warmup < 1 or a.steps < a.warmup + 2:
        p.error(f"--steps {a.steps} --warmup {a.warmup}: need warmup >= 1 and at least 2 timed steps after it")
    a.device = "cuda" if a.accelerator in ("cuda", "gpu") else "cpu"
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for lg in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(lg).setLevel(logging.ERROR)
    name = torch.cuda.get_device_name(0) if a.device == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"torch {torch.__version__}; {name}; peak {a.peak_tflops:g} TFLOP/s (bf16, dense)", flush=True)
    out = {"device": name, "command": " ".join(sys.argv), "training": []}
    for m in a.models:
        out["training"] += training(m, a)
    out["iw_nll"] = iw_nll_rate(a)
    if not a.no_ddp:
        out["ddp_1_device"] = ddp_run(a)
    print(f"{'model':>8} {'precision':>10} {'batch':>5} {'img/s':>9} {'ms/step':>8} {'GFLOP/step':>10} {'MFU':>7} "
          f"{'loader img/s':>12} {'loader/use':>10}")
    for r in out["training"]:
        print(f"{r['model']:>8} {r['precision']:>10} {r['batch']:>5} {r['img_per_s']:>9.0f} {r['ms_per_step']:>8.2f} "
              f"{r['gflop_per_step']:>10.2f} {r['mfu']:>7.2%} {r['loader_img_per_s']:>12.0f} "
              f"{r['loader_over_consumption']:>9.1f}x")
    nll = out["iw_nll"]
    print(f"IW-NLL: {nll['images']} images x k={nll['k']} in {nll['seconds']:.2f} s = {nll['samples_per_s']:.3g} "
          "importance samples/s")
    if "ddp_1_device" in out:
        d = out["ddp_1_device"]
        print(f"DDP, 1 device, through the CLI: exit {d['returncode']} in {d['seconds']:.0f} s, checkpoint "
              f"{'written' if d['checkpoint'] else 'MISSING'}{': ' + d['stderr_tail'] if d['stderr_tail'] else ''}")
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
