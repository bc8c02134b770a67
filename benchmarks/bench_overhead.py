"""Framework overhead: a lit_gen training step through ``lightning.Trainer`` against a hand-written PyTorch loop.

    OMP_NUM_THREADS=1 python benchmarks/bench_overhead.py [--models gan vae vae_mnist] [--steps 60] [--repeats 5]

For each model the module is built exactly as ``python -m lit_gen.fit`` builds it (``load_config`` on the
shipped config, ``GenerativeDataModule``, the registry's module class and ``GenerativeDataModule.spec()``):

* ``gan``       configs/gan.yaml: DCGAN 32 px, non-saturating loss, EMA, batch 64 (scenes)
* ``vae``       configs/vae.yaml: the conv VAE, batch 64 (scenes)
* ``vae_mnist`` configs/vae_mnist.yaml: the 784-200-200-50 MLP VAE, batch 100 (binarized MNIST)

``--steps`` batches are drawn once from the data module's loader and held in memory; every variant
trains on that same list, from the same initial weights (a deep copy of one freshly built module),
with the same optimizer settings (``build_optimizer`` on ``optim``):

* ``hand``: a plain loop over the same networks: forward, loss, ``zero_grad``, ``backward``, ``step``
  (the GAN: the D step with G under ``no_grad``; the G step with D's ``requires_grad`` off; the EMA
  update of the generator; the VAE: reparameterized ELBO with a Bernoulli decoder).
* ``bare`` (VAEs only; not lit_gen code): the ``hand`` loop's own step, word for word, as the ``training_step`` of a
  plain ``LightningModule`` with the same networks and optimizer, through the same ``trainer.fit`` as
  ``lightning``: what Lightning's loop alone costs on this model's step, so ``bare / hand`` is the best ratio any
  change inside lit_gen's module could reach.
* ``lightning``: ``trainer.fit`` of the lit_gen module (``log_every_n_steps`` from the config, as the CLI),
  without logger, checkpointing, progress bar, model summary, validation or callbacks: what lit_gen's
  ``training_step`` and Lightning's loop cost.
* ``full``: the same plus everything ``lit_gen.run.train`` attaches by default: the CSV logger and
  (configs' default) the offline W&B logger, ModelCheckpoint, image-grid and sample-quality callbacks
  (their work is at epoch/validation end, outside the timed steps), RunMetadata, the divergence
  guard, the RNG-state callback and lit_gen's progress bar (written to a file, not the terminal).

Time per step: from the start of batch ``--warmup`` to the start of the last batch (so every timed step
includes all of the loop's per-step hooks), divided by the number of steps, in wall-clock time and in CPU
time of this process (``time.process_time``; on a shared machine it moves less with other jobs' load).
The variants run interleaved ``--repeats`` times in one process, in rotating order (hand, lightning, full;
lightning, full, hand; ...), so load from other jobs and order effects hit all of them alike; the medians
and the ratios to ``hand`` (of the medians, and the median of the ratios paired within each repeat, the
more robust one when the load changes between repeats) are printed. One untimed short run of ``hand`` and ``lightning`` goes first.
The target: lightning / hand <= 1.05.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CONFIGS = {"gan": "configs/gan.yaml", "vae": "configs/vae.yaml", "vae_mnist": "configs/vae_mnist.yaml"}
VARIANTS = ("hand", "bare", "lightning", "full")


# --- building things the way the CLI does ----------------------------------------------------------
def load(name: str, overrides=()):
    """(cfg, datamodule, module) for a shipped config, through the CLI's own path."""
    from lit_gen.config import load_config
    from lit_gen.data.datamodule import GenerativeDataModule
    from lit_gen.registry import build_model, check_needs

    cfg = load_config(str(REPO / CONFIGS.get(name, name)), list(overrides))
    if not Path(cfg.data.root).is_absolute():
        cfg.data.root = str((REPO / cfg.data.root).resolve())
    torch.manual_seed(cfg.seed)
    dm = GenerativeDataModule(cfg.data)
    dm.setup("fit")
    check_needs(cfg.model.name, dm.info)
    model = build_model(cfg, dm.spec())
    return cfg, dm, model


def preload(dm, n: int) -> list:
    """The first ``n`` shuffled full batches of the training split, as a list of dicts in memory."""
    loader = dm._loader(dm.splits.train, shuffle=True, drop_last=True)
    out = []
    while len(out) < n:
        for b in loader:
            out.append({k: v.clone() if torch.is_tensor(v) else v for k, v in b.items()})
            if len(out) == n:
                break
    return out


# --- the hand-written loops ----------------------------------------------------------------------
def stamp() -> tuple:
    return time.perf_counter(), time.process_time()


def timed(batches: list, warmup: int, stamps: list):
    """Yield ``batches``, stamping the clocks at batch ``warmup`` and at the last batch (both before the step)."""
    for i, batch in enumerate(batches):
        if i in (warmup, len(batches) - 1):
            stamps.append(stamp())
        yield batch


def per_step(t0: tuple, t1: tuple, steps: int) -> tuple:
    """(wall seconds, CPU seconds of this process) per step between two (perf_counter, process_time) stamps."""
    return (t1[0] - t0[0]) / steps, (t1[1] - t0[1]) / steps


def hand_gan(model, batches: list, warmup: int) -> tuple:
    """Seconds per step of a plain PyTorch GAN loop on ``model``'s networks (the same work as GAN.training_step)."""
    from lit_gen.models.optim import build_optimizer
    from lit_gen.models.gan import losses

    G, D, Gema = model.generator, model.discriminator, model.generator_ema
    o = model.optim_cfg
    opt_g = build_optimizer(G.parameters(), o)
    opt_d = build_optimizer(D.parameters(), o, lr=o.lr_d)
    dis_loss, gen_loss = losses.loss_pair(model.model_cfg.loss, model.model_cfg.fgan_generator)
    zdim, decay, n_critic = model.latent_dim, model.ema_decay, model.n_critic
    G.train(), D.train()
    d_steps = g_steps = 0
    stamps: list = []
    for batch in timed(batches, warmup, stamps):
        real = batch["image"] * 2 - 1
        n = real.shape[0]
        with torch.no_grad():
            fake = G(torch.randn(n, zdim))
        loss_d = dis_loss(D(real), D(fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        d_steps += 1
        if d_steps % n_critic == 0:
            D.requires_grad_(False)
            loss_g = gen_loss(D(G(torch.randn(n, zdim))))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            D.requires_grad_(True)
            opt_g.step()
            g_steps += 1
            if Gema is not None:
                with torch.no_grad():
                    w = 1.0 - min(decay, (1.0 + g_steps) / (10.0 + g_steps))
                    for e, p in zip(Gema.parameters(), G.parameters()):
                        e.lerp_(p, w)
                    for e, b in zip(Gema.buffers(), G.buffers()):
                        e.lerp_(b, w) if e.is_floating_point() else e.copy_(b)
    return per_step(*stamps, len(batches) - 1 - warmup)


def vae_loss(enc, dec, beta: float, x: torch.Tensor) -> torch.Tensor:
    """The hand-written VAE loss: reparameterized ELBO, Bernoulli decoder, closed-form KL, mean over the batch."""
    mu, logvar = enc(x)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    recon = F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
    return (recon + beta * kl).mean()


def hand_vae(model, batches: list, warmup: int) -> tuple:
    """Seconds per step of a plain PyTorch VAE loop (Bernoulli decoder, closed-form KL) on ``model``'s networks."""
    from lit_gen.models.optim import build_optimizer

    assert model.model_cfg.likelihood == "bernoulli" and model.model_cfg.mc_samples == 1
    enc, dec, beta = model.encoder, model.decoder, model.model_cfg.beta
    opt = build_optimizer(list(model.parameters()), model.optim_cfg)
    model.train()
    stamps: list = []
    for batch in timed(batches, warmup, stamps):
        loss = vae_loss(enc, dec, beta, batch["image"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return per_step(*stamps, len(batches) - 1 - warmup)


def bare_vae(model):
    """A plain LightningModule (no lit_gen code) whose training step is the hand loop's, on ``model``'s networks."""
    import lightning as L

    from lit_gen.models.optim import build_optimizer

    class Bare(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = model.encoder, model.decoder

        def training_step(self, batch, batch_idx):
            return vae_loss(self.encoder, self.decoder, model.model_cfg.beta, batch["image"])

        def configure_optimizers(self):
            return build_optimizer(list(self.parameters()), model.optim_cfg)

    return Bare()


# --- through lightning.Trainer ---------------------------------------------------------------------
class Batches:
    """The in-memory batches as one iterable (a bare list would be read as a list of data loaders)."""

    def __init__(self, batches: list):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class StepTimer:
    """A callback: wall time from the start of batch ``warmup`` to the start of the last batch."""

    def __new__(cls, warmup: int, last: int):
        import lightning as L

        class _Timer(L.Callback):
            def __init__(self):
                self.t0 = self.t1 = None

            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                if batch_idx == warmup:
                    self.t0 = stamp()
                elif batch_idx == last:
                    self.t1 = stamp()

            def per_step(self) -> tuple:
                return per_step(self.t0, self.t1, last - warmup)

        return _Timer()


def full_callbacks(cfg, dm, model, run_dir: Path) -> tuple[list, list]:
    """(callbacks, loggers) as ``lit_gen.run.train`` builds them for ``cfg``."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from lit_gen.callbacks.divergence import DivergenceCallback
    from lit_gen.callbacks.images import ImageGridCallback
    from lit_gen.callbacks.progress import TimedProgressBar
    from lit_gen.callbacks.run_metadata import RunMetadata
    from lit_gen.callbacks.sample_quality_callback import SampleQualityCallback
    from lit_gen.config import config_to_yaml
    from lit_gen.registry import model_spec
    from lit_gen.callbacks.rng_state import RngState
    from lit_gen.tracking.loggers import build_loggers

    callbacks = [
        ModelCheckpoint(dirpath=str(run_dir / "checkpoints"), filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                        save_last=True, save_top_k=1, every_n_epochs=1),
        ImageGridCallback(str(run_dir), cfg.metrics.every_n_epochs, cfg.metrics.grid_size, seed=cfg.seed),
        SampleQualityCallback(cfg, echo=lambda m: None),
        RunMetadata(config_to_yaml(cfg), cfg.model.name),
        DivergenceCallback(),
        RngState(),
        TimedProgressBar(cfg.run.progress_interval_s),
    ]
    loggers = build_loggers(cfg, run_dir, model_spec(cfg.model.name).family)
    return callbacks, loggers


def lightning_step(model, batches: list, warmup: int, full=None, log_every_n_steps: int = 20,
                   accelerator: str = "cpu", precision: str = "32-true") -> tuple:
    """(wall, CPU) seconds per step of ``trainer.fit`` on the in-memory batches (moved to the device by Lightning,
    as in a run); ``full``: (callbacks, loggers, run_dir)."""
    import lightning as L

    timer = StepTimer(warmup, len(batches) - 1)
    common = dict(accelerator=accelerator, devices=1, precision=precision, max_epochs=1, limit_val_batches=0,
                  num_sanity_val_steps=0, enable_model_summary=False, log_every_n_steps=log_every_n_steps)
    if full is None:
        trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, callbacks=[timer],
                            **common)
        trainer.fit(model, train_dataloaders=Batches(batches))
    else:
        callbacks, loggers, run_dir = full
        trainer = L.Trainer(default_root_dir=str(run_dir), logger=loggers, callbacks=[timer, *callbacks], **common)
        with open(run_dir / "progress.txt", "w") as f, contextlib.redirect_stderr(f), contextlib.redirect_stdout(f):
            trainer.fit(model, train_dataloaders=Batches(batches))
    return timer.per_step()


def run_model(name: str, steps: int, warmup: int, repeats: int, variants, overrides=(), accelerator: str = "cpu",
              precision: str = "32-true") -> dict:
    cfg, dm, template = load(name, overrides)
    batches = preload(dm, steps)
    hand = hand_gan if cfg.model.name == "gan" else hand_vae
    if cfg.model.name == "gan":
        variants = [v for v in variants if v != "bare"]  # the GAN's hand loop has no one-loss bare module
    times = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    every = int(cfg.trainer.log_every_n_steps)  # as the CLI passes it (the schema's default: 20)
    tmp = Path(tempfile.mkdtemp(prefix="bench_overhead_"))
    if "full" in variants:
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ.setdefault("WANDB_DIR", str(tmp))
    # untimed: the first fit in a process pays one-time costs (lazy imports, e.g. torch._dynamo on the first self.log)
    if "hand" in variants:
        hand(copy.deepcopy(template), batches[: warmup + 3], warmup)
    lightning_step(copy.deepcopy(template), batches[: warmup + 3], warmup, log_every_n_steps=every,
                   accelerator=accelerator, precision=precision)
    for r in range(repeats):
        k = r % len(variants)  # rotate the order (A,B,C; B,C,A; ...): no variant always runs right after another
        for v in list(variants[k:]) + list(variants[:k]):
            model = copy.deepcopy(template)
            if v == "hand":
                t = hand(model, batches, warmup)
            elif v in ("lightning", "bare"):
                t = lightning_step(bare_vae(model) if v == "bare" else model, batches, warmup, log_every_n_steps=every,
                                   accelerator=accelerator, precision=precision)
            else:
                run_dir = tmp / f"{v}{r}"
                run_dir.mkdir(parents=True)
                callbacks, loggers = full_callbacks(cfg, dm, model, run_dir)
                t = lightning_step(model, batches, warmup, (callbacks, loggers, run_dir), log_every_n_steps=every,
                                   accelerator=accelerator, precision=precision)
                if cfg.logger.name == "wandb":
                    import wandb

                    wandb.finish()
            times[v].append(t[0])
            cpu[v].append(t[1])
            print(f"  {name} repeat {r + 1}/{repeats} {v:>9}: {t[0] * 1e3:8.2f} ms/step wall, {t[1] * 1e3:8.2f} ms CPU",
                  flush=True)
    return {"cfg": cfg, "batch": batches[0]["image"].shape[0], "times": times, "cpu": cpu}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["gan", "vae", "vae_mnist"], choices=sorted(CONFIGS))
    p.add_argument("--steps", type=int, default=None, help="batches per run (default: 60 conv, 400 MLP)")
    p.add_argument("--warmup", type=int, default=None, help="untimed batches at the start (default: steps // 6)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--accelerator", default="cpu", help="Lightning's accelerator for lightning and full (hand: CPU only)")
    p.add_argument("--precision", default="32-true", help="Lightning's precision, e.g. bf16-mixed")
    a = p.parse_args()
    if a.accelerator != "cpu" and "hand" in a.variants:
        p.error("--variants hand runs on the CPU only; with --accelerator, pick lightning and/or full")
    torch.set_num_threads(a.threads)
    from lit_gen.allocator import keep_freed_memory

    kept = keep_freed_memory()  # as the CLIs do, for every variant alike
    import logging

    import lightning

    for lg in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(lg).setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore")
    print(f"torch {torch.__version__}, lightning {lightning.__version__}, {torch.get_num_threads()} thread(s), "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, os.cpu_count()={os.cpu_count()}, "
          f"freed memory kept in the process: {kept}, "
          f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}", flush=True)
    rows = []
    for name in a.models:
        steps = a.steps or (400 if name == "vae_mnist" else 60)
        warmup = a.warmup if a.warmup is not None else max(2, steps // 6)
        res = run_model(name, steps, warmup, a.repeats, a.variants, accelerator=a.accelerator, precision=a.precision)
        med = {v: statistics.median(ts) for v, ts in res["times"].items()}
        med_cpu = {v: statistics.median(ts) for v, ts in res["cpu"].items()}
        # ratios paired within each repeat (the variants of one repeat ran back to back), then the median
        paired = {(kind, v): statistics.median(a / b for a, b in zip(res[kind][v], res[kind]["hand"]))
                  for kind in ("times", "cpu") for v in res["times"] if "hand" in res[kind]}
        rows.append((name, res["batch"], steps - 1 - warmup, med, med_cpu, paired))
    print(f"\nload average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print(f"median of {a.repeats} interleaved repeats; ms per training step (img/s); ratio to the hand-written loop")
    for what, col in (("wall clock", 3), ("CPU time of this process (less sensitive to other jobs)", 4)):
        print(f"-- {what}")
        print(f"{'model':>10} {'batch':>5} {'steps':>5}" + "".join(f" {v:>22}" for v in a.variants))
        for row in rows:
            name, batch, steps, med = row[0], row[1], row[2], row[col]
            cells = []
            for v in a.variants:
                if v not in med:  # the GAN runs no "bare"
                    cells.append("-".rjust(22))
                    continue
                ratio = f" x{med[v] / med['hand']:.3f}" if "hand" in med and v != "hand" else ""
                cells.append(f"{med[v] * 1e3:7.2f} ({batch / med[v]:6.0f}){ratio}".rjust(22))
            print(f"{name:>10} {batch:>5} {steps:>5}" + " ".join([""] + cells))
    if all("hand" in r[3] and "lightning" in r[3] for r in rows):
        print("-- median over repeats of the ratio to hand within each repeat (robust to load that changes between "
              "repeats)")
        for name, *_, paired in rows:
            print(f"{name:>10}: " + ", ".join(f"{v} wall x{paired[('times', v)]:.3f} CPU x{paired[('cpu', v)]:.3f}"
                                              for v in a.variants if v != "hand" and ("times", v) in paired))
        for name, *_, paired in rows:
            if ("times", "bare") in paired:  # the best ratio any change inside lit_gen's module could reach
                print(f"Lightning's loop alone on {name}'s hand-written step (bare / hand, paired): wall "
                      f"{paired[('times', 'bare')]:.3f}, CPU {paired[('cpu', 'bare')]:.3f}: the best reachable ratio")
        for name, *_, paired in rows:
            w, c = paired[("times", "lightning")], paired[("cpu", "lightning")]
            print(f"target lightning/hand <= 1.05, {name}: wall {w:.3f}, CPU {c:.3f} (paired): "
                  f"{'met' if max(w, c) <= 1.05 else 'met on CPU time' if c <= 1.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
