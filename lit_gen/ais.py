"""``python -m lit_gen.ais --ckpt PATH``: the AIS log-likelihood of a decoder-based model on the test split, with BDMC.

Annealed importance sampling for decoder-based models (Wu, Burda, Salakhutdinov, Grosse, ICLR 2017;
``lit_gen/metrics/ais.py``): for the VAE family and GANs, on image data. Rebuilds the model from the checkpoint
(``key=value`` overrides on top, as ``lit_gen.evaluate``) and estimates log p(x) on the first ``--n`` test images
with ``--chains`` chains of ``--steps`` intermediate distributions (the sigmoid schedule), ``--leapfrog`` leapfrog
steps per HMC transition, ``--batch`` images per pass.

The observation model p(x|z) (``--sigma``):

- ``auto`` (the default): a Bernoulli-decoder VAE keeps its own likelihood; a Gaussian-decoder VAE and a GAN get
  N(x; decoder mean, sigma^2 I), with sigma the one of (0.01, 0.02, 0.05, 0.1, 0.2) that gives the highest mean
  AIS log-likelihood on the first min(n, 20) validation images, scored with a shorter chain (steps / 4 and
  chains / 4, at least 1: a short chain underestimates small sigmas most; 50 steps picked 0.2 for data with
  noise 0.1 on a linear-Gaussian model): Wu et al. chose sigma on a validation set;
- ``grid``: that choice of sigma for any model, a Bernoulli VAE included: the VAE's decoder means and a GAN's
  generator on one Gaussian axis, as Wu et al. compare them;
- a number: that sigma, for any model (comparable across models on the same data);
- ``model``: a VAE's own likelihood (Bernoulli, or Gaussian with its own sigma).

BDMC (``--bdmc N``, default 10; 0 skips it): N images simulated from the model under the same observation model,
z ~ N(0, I), x ~ p(x|z); forward AIS gives a stochastic lower bound on log p(x), reverse AIS from the simulated z
an upper bound. Their gap (``bdmc/gap``, nats per image, with its standard error over the simulated images
``bdmc/gap_se``) bounds the chain's error on data like the model's own: a large gap says to raise ``--steps``.
A GAN's narrow posterior under a small sigma needs longer chains than a VAE's; ``benchmarks/bench_ais.py``
measures the gap and the time per image against T (docs/performance.md).

Prints ONE JSON object on stdout (everything else goes to stderr: the progress, and one line with the NLL and
the BDMC gap) and writes it to ``<ckpt folder>/<ckpt stem>.ais.json`` (or ``--out FILE``).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from lit_gen.errors import UserError
from lit_gen.evaluate import print_result, write_result
from lit_gen.messages import say_on_stderr
from lit_gen.cli import make_parser, run_cli

SIGMA_IMAGES = 20  # validation images that score each sigma of the grid


def _finite(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None


def parse_sigma(text: str):
    """``auto``, ``grid``, ``model`` or a positive float, from ``--sigma``."""
    if text in ("auto", "grid", "model"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UserError(f"--sigma {text}: give auto, grid, model or a positive number (the observation noise's std)")
    return value


def check_flags(args) -> None:
    """One line per bad flag, before the checkpoint is read."""
    for flag, value, least in (("--n", args.n, 1), ("--steps", args.steps, 1), ("--chains", args.chains, 1),
                               ("--leapfrog", args.leapfrog, 1), ("--batch", args.batch, 1), ("--bdmc", args.bdmc, 0),
                               ("--iw-k", args.iw_k, 0)):
        if value < least:
            raise UserError(f"{flag} {value}: must be at least {least}")
    parse_sigma(args.sigma)


def _images(dataset, n: int, device):
    import torch

    return torch.stack([dataset[i]["image"] for i in range(min(n, len(dataset)))]).to(device)


def observation(model, name: str, sigma, dm, settings, n: int, *, seed: int, progress: bool) -> tuple:
    """(the Decoder AIS runs on, {JSON keys of the choice}) for ``--sigma`` (``auto``, ``model`` or a float)."""
    from dataclasses import replace

    from lit_gen.metrics import ais

    own = ais.has_own_likelihood(model)
    bernoulli = own and model.model_cfg.likelihood == "bernoulli"
    if sigma == "model" or (sigma == "auto" and bernoulli):
        if not own:
            raise UserError(f"--sigma model: model.name={name} has no likelihood of its own; give "
                            "--sigma auto or a number")
        return ais.own_likelihood(model), {"test/ais_likelihood": f"{model.model_cfg.likelihood} (the model's own)",
                                           "test/ais_sigma": None}
    keys = {"test/ais_likelihood": "gaussian"}
    if sigma in ("auto", "grid"):
        val = dm.splits.val if len(dm.splits.val) else dm.splits.train
        if not len(dm.splits.val):
            say_on_stderr("the validation split is empty: sigma is chosen on training images")
        images = _images(val, min(SIGMA_IMAGES, n), model.device)
        short = replace(settings, steps=max(1, settings.steps // 4), chains=max(1, settings.chains // 4))
        sigma, scores = ais.choose_sigma(model.decoder_mean, model.latent_dim, images, short, seed=seed,
                                         progress=progress)
        say_on_stderr("sigma " + ", ".join(f"{s:g}: {v:.1f}" for s, v in scores.items()) +
             f" (mean AIS log p on {len(images)} validation images, T={short.steps}, {short.chains} chains); "
             f"chose {sigma:g}")
        keys.update({f"test/ais_sigma_score/{s:g}": _finite(v) for s, v in scores.items()})
        keys["test/ais_sigma_images"] = len(images)
    keys["test/ais_sigma"] = float(sigma)
    return ais.gaussian_decoder(model.decoder_mean, model.latent_dim, float(sigma)), keys


def run_ais(ckpt_path: str, args, overrides=(), progress: bool = True) -> dict:
    started = time.time()
    from lit_gen.checkpoints import eval_device, load_model

    model, dm, cfg, ckpt = load_model(ckpt_path, "test", overrides)

    import torch

    from lit_gen.metrics import ais
    from lit_gen.metrics.likelihood import iw_log_likelihood, supports_likelihood

    name = cfg.model.name
    if not ais.has_decoder(model):
        raise UserError(f"model.name={name}: AIS needs a decoder from a N(0, I) prior (the VAE family or a GAN); "
                        "this model has none")
    if not model.data.is_image:
        raise UserError(f"data.name={cfg.data.name}: vector data; AIS here is for decoders of images")
    test = dm.splits.test
    if len(test) == 0:
        raise UserError(f"data.name={cfg.data.name}: the test split is empty; nothing to evaluate on")
    model.to(eval_device(cfg.trainer.accelerator)).eval()
    model.requires_grad_(False)  # autograd runs on z only
    settings = ais.Settings(steps=args.steps, chains=args.chains, leapfrog=args.leapfrog, batch_size=args.batch)
    decoder, keys = observation(model, name, parse_sigma(args.sigma), dm, settings, args.n, seed=cfg.seed,
                                progress=progress)

    x = _images(test, args.n, model.device)
    est = ais.ais_log_likelihood(decoder, x, settings, seed=cfg.seed, progress=progress, desc="test AIS")
    nll = -est.log_px
    result = {"ckpt": str(Path(ckpt_path).resolve()), "model": name, "data": cfg.data.name, "split": "test",
              "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"), **keys,
              "test/ais_nll": float(nll.mean()),
              "test/ais_nll_se": float(nll.std() / math.sqrt(len(nll))) if len(nll) > 1 else None,
              "test/ais_n": len(x), "test/ais_steps": args.steps, "test/ais_chains": args.chains,
              "test/ais_leapfrog": args.leapfrog, "test/ais_accept": est.accept, "test/ais_step_size": est.step_size}
    if args.iw_k > 0 and keys["test/ais_sigma"] is None and supports_likelihood(model):
        # the IWAE bound on the same images: AIS under the same likelihood should be at least as tight
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            iw = -iw_log_likelihood(model, x, args.iw_k, budget=cfg.metrics.nll_batch)
        result.update({"test/ais_iw_nll": float(iw.mean()), "test/ais_iw_k": args.iw_k})
    line = (f"AIS test NLL {result['test/ais_nll']:.2f} nats/image ({len(x)} images, T={args.steps}, "
            f"{args.chains} chains, {args.leapfrog} leapfrog)")
    if args.bdmc > 0:
        sim = ais.bdmc(decoder, args.bdmc, settings, device=model.device, seed=cfg.seed + 1, progress=progress)
        result.update({"bdmc/lower": float(sim.lower.mean()), "bdmc/upper": float(sim.upper.mean()),
                       "bdmc/gap": sim.gap, "bdmc/gap_se": sim.gap_se, "bdmc/n": args.bdmc})
        se = f" +- {sim.gap_se:.3f}" if sim.gap_se is not None else ""
        line += f"; BDMC gap {sim.gap:.3f}{se} nats/image (lower {result['bdmc/lower']:.2f}, upper " \
                f"{result['bdmc/upper']:.2f}, {args.bdmc} simulated images)"
    else:
        line += "; BDMC skipped (--bdmc 0): the chain length is unchecked"
    if "test/ais_iw_nll" in result:
        line += f"; IW-NLL (k={args.iw_k}) on the same images {result['test/ais_iw_nll']:.2f}"
    say_on_stderr(line)
    target = args.out or Path(ckpt_path).with_name(Path(ckpt_path).stem + ".ais.json")
    return write_result(result, target, started)


def _main(argv) -> int:
    parser = make_parser("python -m lit_gen.ais",
                         "AIS log-likelihood (Wu et al. 2017) of a VAE or GAN checkpoint on the test split, with a "
                         "BDMC check of the chain; print one JSON object and write <ckpt>.ais.json.")
    parser.add_argument("--ckpt", required=True, metavar="PATH",
                        help="a lit_gen checkpoint, e.g. runs/NAME/checkpoints/last.ckpt")
    parser.add_argument("--n", type=int, default=100, help="test images (the first n; default 100)")
    parser.add_argument("--steps", type=int, default=1000, help="intermediate distributions T (default 1000)")
    parser.add_argument("--chains", type=int, default=16, help="AIS chains per image (default 16)")
    parser.add_argument("--leapfrog", type=int, default=10, help="leapfrog steps per HMC transition (default 10)")
    parser.add_argument("--sigma", default="auto", metavar="auto|grid|model|FLOAT",
                        help="the Gaussian observation's std; grid: chosen on validation images; auto: a Bernoulli "
                             "VAE's own likelihood, else grid; model: a VAE's own likelihood (default auto)")
    parser.add_argument("--iw-k", type=int, default=5000, metavar="K",
                        help="under the model's own likelihood, also the k-sample importance-weighted estimate on the "
                             "same images, which AIS should match or beat (default 5000; 0 skips)")
    parser.add_argument("--bdmc", type=int, default=10, metavar="N_SIM",
                        help="images simulated from the model for the BDMC bounds (default 10; 0 skips)")
    parser.add_argument("--batch", type=int, default=16, help="images per pass, each with --chains chains (default 16)")
    parser.add_argument("--out", metavar="FILE", help="where to write the JSON (default: next to the checkpoint)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides on top of the stored config")
    args = parser.parse_args(argv)
    check_flags(args)
    return print_result(lambda: run_ais(args.ckpt, args, args.overrides, progress=not args.no_progress))


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
