"""Against a peer: wall time per epoch of lit_gen and pythae training the same MLP VAE on MNIST.

    OMP_NUM_THREADS=1 python benchmarks/bench_pythae.py [--pythae-python /work/venv_pythae/bin/python]
        [--epochs 3] [--repeats 2]

pythae (https://pypi.org/project/pythae/) pins old versions of some packages, so it lives in its own
virtualenv; this script runs each side as a subprocess (``--side lit_gen`` with this interpreter,
``--side pythae`` with ``--pythae-python``, default ``$PYTHAE_PYTHON`` or /work/venv_pythae/bin/python)
and alternates them (lit_gen, pythae, lit_gen, pythae, ...) so load from other jobs hits both alike.
Set it up once (torch is the CPU wheel already installed; pythae's other needs are small):

    python -m venv --system-site-packages /work/venv_pythae
    /work/venv_pythae/bin/pip install --no-deps pythae && /work/venv_pythae/bin/pip install imageio

Both sides, the same problem:
* data: MNIST grey levels in [0, 1] from ``data.root`` (``ROOT/MNIST/raw``), through lit_gen's own data
  module: the same 54,000 training and 6,000 validation images (``data.val_fraction=0.1``) on both sides;
* the 784-200-200-50 tanh VAE of configs/vae_mnist.yaml (Bernoulli decoder: summed binary cross-entropy,
  closed-form KL), batch 100, Adam lr 1e-3, eps 1e-4, ``--epochs`` epochs, one thread;
* every epoch trains on the training split and evaluates the loss on the validation split.

lit_gen: ``lit_gen.run.train`` (what ``python -m lit_gen.fit --config configs/vae_mnist.yaml`` runs) with
``data.name=mnist`` (pythae has no dynamic binarization) and with the sample-quality work pythae does not do
switched off (``metrics.features=none metrics.nll_k=0``, 64 samples for the blur ratio at the last epoch),
``logger.name=csv``; checkpoints, image grids, the divergence guard and the progress bar stay on.
pythae: ``pythae.models.VAE`` with the same encoder/decoder (``BaseEncoder``/``BaseDecoder``,
``reconstruction_loss="bce"``) and ``BaseTrainer`` (its defaults: progress bars, keeps a copy of the best
model every improving epoch, saves the final model).

An epoch's time runs from the start of one epoch to the start of the next (the last one: to the end of
training, including the final save). Printed: per-epoch times, their median over epochs 2.. (steady
state) per run, the median over runs, and the ratio lit_gen / pythae (the target: <= 1.0), in
wall-clock seconds and in CPU seconds of the training process (less sensitive to other jobs' load).
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

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PYTHAE = os.environ.get("PYTHAE_PYTHON", "/work/venv_pythae/bin/python")


def data_cfg_overrides(root: str) -> list[str]:
    return ["data.name=mnist", f"data.root={root}", "data.image_size=28", "data.channels=1", "data.val_fraction=0.1",
            "data.batch_size=100"]


def _epochs(stamps: list) -> dict:
    """Per-epoch wall and CPU seconds from (perf_counter, process_time) stamps at each epoch start and the end."""
    return {"epochs": [b[0] - a[0] for a, b in zip(stamps, stamps[1:])],
            "epochs_cpu": [b[1] - a[1] for a, b in zip(stamps, stamps[1:])]}


def lit_side(args) -> dict:
    import torch

    torch.set_num_threads(1)
    import lightning as L

    from lit_gen import registry
    from lit_gen.config import load_config
    from lit_gen.models.vae import VAE
    from lit_gen.run import train

    times: list[float] = []

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            times.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, trainer, pl_module):
            times.append((time.perf_counter(), time.process_time()))

    class TimedVAE(VAE):
        # Lightning's own hook for a module's callbacks: the timer gets into train() unchanged
        def configure_callbacks(self):
            return [EpochTimer()]

    globals()["TimedVAE"] = TimedVAE  # the registry imports the module class by name
    spec = registry.MODELS["vae"]
    registry.MODELS["vae"] = registry.ModelSpec(spec.config_cls, f"{__name__}:TimedVAE", spec.family)
    tmp = tempfile.mkdtemp(prefix="bench_pythae_lit_")
    overrides = data_cfg_overrides(args.data_root) + [
        f"trainer.max_epochs={args.epochs}", "logger.name=csv", f"run.dir={tmp}", "run.name=lit",
        "metrics.features=none", "metrics.nll_k=0", "metrics.num_samples=64", "metrics.every_n_epochs=1000",
    ] + list(args.lit_overrides or [])
    cfg = load_config(str(REPO / "configs" / "vae_mnist.yaml"), overrides)
    t0 = time.perf_counter()
    metrics = train(cfg)
    total = time.perf_counter() - t0
    return {"side": "lit_gen", **_epochs(times), "fit_total": total,
            "val_loss": metrics.get("val/loss"), "train_loss": metrics.get("train/loss_epoch")}


def pythae_side(args) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    import logging

    logging.getLogger("pythae").setLevel(logging.WARNING)
    from omegaconf import OmegaConf

    from lit_gen.config.schema import DataConfig
    from lit_gen.data.datamodule import GenerativeDataModule
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    dotlist = [kv[len("data."):] for kv in data_cfg_overrides(args.data_root)]
    dcfg = OmegaConf.merge(OmegaConf.structured(DataConfig), OmegaConf.from_dotlist(dotlist))
    torch.manual_seed(0)
    dm = GenerativeDataModule(dcfg)
    dm.setup("fit")

    def images(ds):
        t = ds.tensors["image"]
        return t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()

    x_train, x_val = images(dm.splits.train), images(dm.splits.val)

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh())
            self.mu, self.logvar = nn.Linear(200, 50), nn.Linear(200, 50)

        def forward(self, x):
            h = self.net(x)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 784),
                                     nn.Sigmoid())

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z).view(-1, 1, 28, 28))

    times: list[float] = []

    class EpochTimer(TrainingCallback):
        def on_epoch_begin(self, training_config, **kwargs):
            times.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, training_config, **kwargs):
            times.append((time.perf_counter(), time.process_time()))

    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=50, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    tmp = tempfile.mkdtemp(prefix="bench_pythae_pythae_")
    tcfg = BaseTrainerConfig(output_dir=tmp, per_device_train_batch_size=100, per_device_eval_batch_size=100,
                             num_epochs=args.epochs, learning_rate=1e-3, optimizer_cls="Adam",
                             optimizer_params={"eps": 1e-4}, no_cuda=True)
    t0 = time.perf_counter()
    trainer = BaseTrainer(model, BaseDataset(x_train, torch.zeros(len(x_train))),
                          BaseDataset(x_val, torch.zeros(len(x_val))), training_config=tcfg, callbacks=[EpochTimer()])
    trainer.train()
    total = time.perf_counter() - t0
    return {"side": "pythae", **_epochs(times), "fit_total": total}


def run_side(python: str, side: str, args) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--side", side, "--epochs", str(args.epochs),
           "--data-root", args.data_root]
    if args.lit_overrides:
        cmd += ["--lit-overrides", *args.lit_overrides]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        sys.exit(f"{side} side failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    res = json.loads(lines[-1][len("RESULT "):])
    res["process_wall"] = wall
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", choices=["lit_gen", "pythae"], help=argparse.SUPPRESS)
    p.add_argument("--pythae-python", default=DEFAULT_PYTHAE, help="the interpreter of the venv with pythae")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data-root", default=str((REPO.parent / "shared" / "data").resolve()))
    p.add_argument("--lit-overrides", nargs="*", default=[], help="extra key=value for the lit_gen side")
    a = p.parse_args()
    if a.side == "lit_gen":
        print("RESULT " + json.dumps(lit_side(a)), flush=True)
        return
    if a.side == "pythae":
        print("RESULT " + json.dumps(pythae_side(a)), flush=True)
        return
    if not (Path(a.data_root) / "MNIST" / "raw").is_dir():
        sys.exit(f"MNIST not found under {a.data_root}/MNIST/raw (pass --data-root)")
    check = subprocess.run([a.pythae_python, "-c", "import importlib.metadata as m, pythae, lit_gen; print(m.version('pythae'))"],
                           capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if check.returncode != 0:
        sys.exit(f"pythae is not importable with {a.pythae_python} (set --pythae-python or $PYTHAE_PYTHON); set it up:\n"
                 f"  python -m venv --system-site-packages /work/venv_pythae\n"
                 f"  /work/venv_pythae/bin/pip install --no-deps pythae && /work/venv_pythae/bin/pip install imageio\n"
                 f"{check.stderr.strip()[-500:]}")
    import torch

    print(f"pythae {check.stdout.strip()} ({a.pythae_python}); torch {torch.__version__}; {a.epochs} epochs x "
          f"{a.repeats} interleaved runs per side; OMP_NUM_THREADS=1; os.cpu_count()={os.cpu_count()}; "
          f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}", flush=True)
    runs = {"lit_gen": [], "pythae": []}
    for r in range(a.repeats):
        for side, py in (("lit_gen", sys.executable), ("pythae", a.pythae_python)):
            res = run_side(py, side, a)
            res["steady"] = statistics.median(res["epochs"][1:] or res["epochs"])
            res["steady_cpu"] = statistics.median(res["epochs_cpu"][1:] or res["epochs_cpu"])
            runs[side].append(res)
            extra = f", val loss {res['val_loss']:.1f}" if res.get("val_loss") is not None else ""
            print(f"  run {r + 1} {side:>7}: epochs {', '.join(f'{t:.1f}' for t in res['epochs'])} s; "
                  f"median of epochs 2..: {res['steady']:.2f} s wall, {res['steady_cpu']:.2f} s CPU; "
                  f"fit {res['fit_total']:.1f} s; "
                  f"process {res['process_wall']:.1f} s{extra}", flush=True)
    med = {s: statistics.median(r["steady"] for r in rs) for s, rs in runs.items()}
    cpu = {s: statistics.median(r["steady_cpu"] for r in rs) for s, rs in runs.items()}
    proc = {s: statistics.median(r["process_wall"] for r in rs) for s, rs in runs.items()}
    print(f"load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print(f"wall time per epoch (median): lit_gen {med['lit_gen']:.2f} s, pythae {med['pythae']:.2f} s, "
          f"ratio lit_gen/pythae {med['lit_gen'] / med['pythae']:.3f} "
          f"(target <= 1.0: {'met' if med['lit_gen'] <= med['pythae'] else 'NOT met'})")
    print(f"CPU time per epoch (median): lit_gen {cpu['lit_gen']:.2f} s, pythae {cpu['pythae']:.2f} s, "
          f"ratio {cpu['lit_gen'] / cpu['pythae']:.3f}")
    print(f"whole process incl. imports, data and setup (median): lit_gen {proc['lit_gen']:.1f} s, "
          f"pythae {proc['pythae']:.1f} s")


if __name__ == "__main__":
    main()
