"""Annealed importance sampling (AIS) log-likelihood of decoder-based models, checked by bidirectional Monte Carlo.

Wu, Burda, Salakhutdinov, Grosse, "On the Quantitative Analysis of Decoder-Based Generative Models" (ICLR 2017).
A decoder model has the prior p(z) = N(0, I_D) and an observation model p(x|z). AIS anneals from the prior to the
posterior through f_beta(z) = p(z) p(x|z)^beta, 0 = beta_0 < beta_1 < ... < beta_T = 1 (Neal 2001), with one HMC
transition leaving f_beta_t invariant after each weight update. A chain's log weight is

    log w = sum_{t=1..T} (beta_t - beta_{t-1}) log p(x | z_{t-1}),

and w is an unbiased estimate of p(x) (the prior is normalized), so logmeanexp over the chains of an image is a
stochastic lower bound on log p(x) (Jensen).

BDMC (Grosse, Ghahramani, Adams 2015): for data simulated from the model, (z, x) ~ p(z) p(x|z), z is an exact
posterior sample of x. AIS on the reversed sequence (beta from 1 down to 0), started at z, gives w' with
E[w'] = Z_0 / Z_T = 1 / p(x); so -logmeanexp(log w') is a stochastic upper bound on log p(x). The gap between
the two bounds bounds the error of the forward chain on such data: a small gap says the chain is long enough.

The paper's settings: the sigmoid schedule (Grosse et al. 2015, Sec. 6.2; radius 4), L leapfrog steps per HMC
transition, unit mass, the step size adapted after every transition toward an acceptance rate of 0.65 (x1.02
above it, x0.98 below, clamped to [1e-4, 0.5], on a moving average of acceptance with weight 0.9 on the past), from
0.01. Here each image's chains share a step size of their own (the paper's code shares one among all images:
posteriors of different images differ in width), adapted on the moving average of their proposals' Metropolis
acceptance probabilities (the same mean as the 0/1 outcomes, less noise), from 0.1: from 0.01 a short chain
spends most of its steps growing it, and its BDMC gap widens (``benchmarks/bench_ais.py``).
Adaptation makes a transition's step size depend on the chain's last move, which breaks its invariance a little:
one step size per chain biases the lower bound above the exact log p(x) of the linear-Gaussian test model; pooled
over an image's chains the dependence is diluted below the standard error (``tests/test_ais.py`` holds the
pooled estimate to the exact value).

Everything runs in float32 with autograd on z only (the caller may be under ``torch.no_grad``), ``batch_size``
images x ``chains`` chains per pass; the log weights are summed in float64.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from lit_gen.metrics.tqdm_bar import progress_bar

TARGET_ACCEPT = 0.65
STEP_UP, STEP_DOWN = 1.02, 0.98
STEP_MIN, STEP_MAX = 1e-4, 0.5
ACCEPT_SLOWNESS = 0.9
SIGMA_GRID = (0.01, 0.02, 0.05, 0.1, 0.2)
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Decoder:
    """A decoder-based model as AIS sees it: z ~ N(0, I_latent_dim), ``log_lik(z, x)`` = log p(x|z) per row (N,),
    differentiable in z, and ``sample(z)``, a draw x ~ p(x|z)."""

    latent_dim: int
    log_lik: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    sample: Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Settings:
    """AIS run settings: ``steps`` (T, the intermediate distributions after the prior), ``chains`` per image,
    ``leapfrog`` steps per HMC transition, the initial ``step_size``, ``batch_size`` images per pass."""

    steps: int = 1000
    chains: int = 16
    leapfrog: int = 10
    step_size: float = 0.1
    batch_size: int = 16


@dataclass(frozen=True)
class Estimate:
    """Per-image log p(x) estimates (float64, nats), with the chains' mean HMC acceptance probability and final
    mean step size."""

    log_px: torch.Tensor
    accept: float
    step_size: float


@dataclass(frozen=True)
class BDMC:
    """BDMC on ``x`` simulated from the model: per-image ``lower`` and ``upper`` bounds on log p(x) (nats)."""

    x: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor

    @property
    def gap(self) -> float:
        """Mean upper minus mean lower bound, nats per image."""
        return float(self.upper.mean() - self.lower.mean())

    @property
    def gap_se(self) -> Optional[float]:
        """The gap's standard error over the images (both bounds are noisy: a gap within ~2 of these of 0 is noise)."""
        d = self.upper - self.lower
        return float(d.std() / math.sqrt(len(d))) if len(d) > 1 else None


# --------------------------------------------------------------------------- observation models


def gaussian_decoder(mean_fn: Callable[[torch.Tensor], torch.Tensor], latent_dim: int, sigma: float) -> Decoder:
    """p(x|z) = N(x; mean_fn(z), sigma^2 I): the observation model Wu et al. put on a decoder (a GAN's generator)."""

    def log_lik(z, x):
        r = (x - mean_fn(z)).flatten(1)
        return -0.5 * r.pow(2).sum(1) / sigma**2 - r.shape[1] * (math.log(sigma) + 0.5 * LOG_2PI)

    def sample(z):
        m = mean_fn(z)
        return m + sigma * torch.randn_like(m)

    return Decoder(latent_dim, log_lik, sample)


def own_likelihood(model) -> Decoder:
    """A VAE-family model's own p(x|z) (``log_px_given_z``): Bernoulli on its pixel means, or Gaussian with its
    own sigma."""
    bernoulli = model.model_cfg.likelihood == "bernoulli"

    def sample(z):
        m = model.decoder_mean(z)
        return torch.bernoulli(m) if bernoulli else m + model.log_sigma.exp() * torch.randn_like(m)

    return Decoder(model.latent_dim, lambda z, x: model.log_px_given_z(x, z), sample)


def has_decoder(model) -> bool:
    """A decoder from a N(0, I) prior: what AIS needs (the VAE family and the GAN)."""
    return callable(getattr(model, "decoder_mean", None)) and isinstance(getattr(model, "latent_dim", None), int)


def has_own_likelihood(model) -> bool:
    return callable(getattr(model, "log_px_given_z", None))


# --------------------------------------------------------------------------- the schedule and HMC


def sigmoid_schedule(steps: int, radius: float = 4.0) -> torch.Tensor:
    """beta_0 = 0 < ... < beta_steps = 1 (float64): a logistic sigmoid over linspace(-radius, radius, steps + 1),
    rescaled to [0, 1] (Grosse, Ghahramani, Adams 2015, Sec. 6.2; Wu et al. 2017)."""
    s = torch.sigmoid(torch.linspace(-radius, radius, steps + 1, dtype=torch.float64))
    return (s - s[0]) / (s[-1] - s[0])


def _ll_and_grad(log_lik, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x|z) (N,) and its gradient in z (N, D); autograd on z only, whatever the caller's grad mode."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        ll = log_lik(z, x)
        (grad,) = torch.autograd.grad(ll.sum(), z)
    return ll.detach(), grad


def _energy(z: torch.Tensor, ll: torch.Tensor, beta: float) -> torch.Tensor:
    """-log f_beta(z) up to a constant: the prior's quadratic minus beta log p(x|z)."""
    return 0.5 * z.pow(2).sum(1) - beta * ll


def _hmc(log_lik, x, z, ll, grad, beta: float, step: torch.Tensor, leapfrog: int):
    """One HMC transition leaving f_beta invariant, per row with its own step size ``step`` (N,): ``leapfrog`` steps
    from a fresh N(0, I) momentum, then a Metropolis test. Returns (z, ll, grad) after it and the acceptance
    probabilities (N,)."""
    eps = step.unsqueeze(1)
    p0 = torch.randn_like(z)
    zn, lln, gn = z, ll, grad
    p = p0 - 0.5 * eps * (zn - beta * gn)
    for i in range(leapfrog):
        zn = zn + eps * p
        lln, gn = _ll_and_grad(log_lik, zn, x)
        # a full momentum step between position steps, a half step at the end
        p = p - (eps if i < leapfrog - 1 else 0.5 * eps) * (zn - beta * gn)
    log_ratio = _energy(z, ll, beta) + 0.5 * p0.pow(2).sum(1) - _energy(zn, lln, beta) - 0.5 * p.pow(2).sum(1)
    # a diverged trajectory (inf or nan) is rejected
    prob = torch.where(torch.isfinite(log_ratio), log_ratio.clamp(max=0.0).exp(), torch.zeros_like(log_ratio))
    take = torch.rand_like(prob) < prob
    rows = take.unsqueeze(1)
    return torch.where(rows, zn, z), torch.where(take, lln, ll), torch.where(rows, gn, grad), prob


def _adapt(step: torch.Tensor, avg: torch.Tensor, prob: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per group of ``group`` consecutive rows (an image's chains): the moving average of their mean acceptance
    probability, and their shared step size moved toward TARGET_ACCEPT."""
    pooled = prob.view(-1, group).mean(1, keepdim=True).expand(-1, group).reshape(-1)
    avg = ACCEPT_SLOWNESS * avg + (1.0 - ACCEPT_SLOWNESS) * pooled
    step = torch.where(avg > TARGET_ACCEPT, step * STEP_UP, step * STEP_DOWN).clamp(STEP_MIN, STEP_MAX)
    return step, avg


def anneal(log_lik, x: torch.Tensor, z: torch.Tensor, betas: list, leapfrog: int, step_size: float, group: int = 1,
           tick: Callable[[], None] = lambda: None) -> tuple[torch.Tensor, float, float]:
    """AIS along ``betas`` (increasing: forward, decreasing: reverse) from states ``z`` (N, D) of f_betas[0], for rows
    ``x`` (N, ...), each ``group`` consecutive rows sharing an adapted step size. Returns the log weights
    sum_t (beta_t - beta_{t-1}) log p(x | z_{t-1}) (N,) in float64, the mean acceptance probability and the final
    mean step size."""
    ll, grad = _ll_and_grad(log_lik, z, x)
    log_w = torch.zeros(len(z), dtype=torch.float64, device=z.device)
    step = torch.full((len(z),), float(step_size), device=z.device)
    avg = torch.full((len(z),), TARGET_ACCEPT, device=z.device)
    accepted, moves = torch.zeros((), device=z.device), 0
    last = len(betas) - 1
    for t in range(1, last + 1):
        log_w += (betas[t] - betas[t - 1]) * ll.double()
        # the weight is final after the last update: no transition at f_betas[-1]
        if t < last:
            z, ll, grad, prob = _hmc(log_lik, x, z, ll, grad, betas[t], step, leapfrog)
            step, avg = _adapt(step, avg, prob, group)
            accepted, moves = accepted + prob.mean(), moves + 1
        tick()
    return log_w, float(accepted) / max(moves, 1), float(step.mean())


def _logmeanexp(a: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])


def forward_ais(decoder: Decoder, x: torch.Tensor, s: Settings, tick=lambda: None) -> Estimate:
    """Stochastic lower bound on log p(x) per image of ``x`` (B, ...): logmeanexp over ``s.chains`` AIS chains
    started from the prior."""
    rows = x.float().repeat_interleave(s.chains, 0)
    z = torch.randn(len(rows), decoder.latent_dim, device=x.device)
    betas = sigmoid_schedule(s.steps).tolist()
    log_w, accept, step = anneal(decoder.log_lik, rows, z, betas, s.leapfrog, s.step_size, s.chains, tick)
    return Estimate(_logmeanexp(log_w.view(len(x), s.chains), 1), accept, step)


def reverse_ais(decoder: Decoder, x: torch.Tensor, z_post: torch.Tensor, s: Settings, tick=lambda: None) -> Estimate:
    """Stochastic upper bound on log p(x) per image of ``x`` (B, ...), from exact posterior samples ``z_post`` (B, D)
    (BDMC): each of ``s.chains`` reverse chains estimates 1/p(x) without bias, so -logmeanexp of their log weights
    is an upper bound in expectation."""
    rows = x.float().repeat_interleave(s.chains, 0)
    z = z_post.float().repeat_interleave(s.chains, 0)
    betas = sigmoid_schedule(s.steps).flip(0).tolist()
    log_w, accept, step = anneal(decoder.log_lik, rows, z, betas, s.leapfrog, s.step_size, s.chains, tick)
    return Estimate(-_logmeanexp(log_w.view(len(x), s.chains), 1), accept, step)


# --------------------------------------------------------------------------- over data sets, seeded


def _batches(n: int, size: int):
    return [(start, min(start + size, n)) for start in range(0, n, size)]


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """The global RNGs seeded with ``seed`` inside, and restored after (the caller's stream is left alone)."""
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def _combine(parts: list) -> Estimate:
    """One Estimate from per-batch ones (acceptance and step size weighted by images)."""
    n = sum(len(p.log_px) for p in parts)
    return Estimate(torch.cat([p.log_px for p in parts]), sum(p.accept * len(p.log_px) for p in parts) / n,
                    sum(p.step_size * len(p.log_px) for p in parts) / n)


def ais_log_likelihood(decoder: Decoder, images: torch.Tensor, s: Settings, *, seed: int = 0, progress: bool = True,
                       desc: str = "AIS") -> Estimate:
    """Forward-AIS log p(x) per image of ``images`` (N, ...), ``s.batch_size`` images per pass; a progress bar over
    the annealing steps."""
    bounds = _batches(len(images), s.batch_size)
    bar = progress_bar(len(bounds) * s.steps, f"{desc} (T={s.steps}, {s.chains} chains)", progress, unit="step")
    with _seeded(seed, images.device):
        parts = [forward_ais(decoder, images[a:b], s, lambda: bar.update(1)) for a, b in bounds]
    bar.close()
    return _combine(parts)


def bdmc(decoder: Decoder, n: int, s: Settings, *, device="cpu", seed: int = 0, progress: bool = True) -> BDMC:
    """BDMC on ``n`` images simulated from the model (z ~ N(0, I), x ~ p(x|z)): forward AIS lower bounds and
    reverse AIS upper bounds from the simulated z, per image."""
    device = torch.device(device)
    bounds = _batches(n, s.batch_size)
    bar = progress_bar(2 * len(bounds) * s.steps, f"BDMC (T={s.steps}, {s.chains} chains)", progress, unit="step")
    with _seeded(seed, device):
        z = torch.randn(n, decoder.latent_dim, device=device)
        with torch.no_grad():
            x = torch.cat([decoder.sample(z[a:b]) for a, b in bounds]).float()
        lower = [forward_ais(decoder, x[a:b], s, lambda: bar.update(1)) for a, b in bounds]
        upper = [reverse_ais(decoder, x[a:b], z[a:b], s, lambda: bar.update(1)) for a, b in bounds]
    bar.close()
    return BDMC(x, _combine(lower).log_px, _combine(upper).log_px)


def choose_sigma(mean_fn, latent_dim: int, images: torch.Tensor, s: Settings, grid=SIGMA_GRID, *, seed: int = 0,
                 progress: bool = True) -> tuple[float, dict]:
    """The sigma in ``grid`` whose N(mean_fn(z), sigma^2 I) gives ``images`` (validation data) the highest mean AIS
    log-likelihood under settings ``s`` (a short chain), and every sigma's score: Wu et al. chose a GAN's
    observation noise on a validation set. A short chain underestimates small sigmas most (their posteriors are
    the narrowest), so the choice leans to the larger sigma where two are close."""
    scores = {}
    for sigma in grid:
        est = ais_log_likelihood(gaussian_decoder(mean_fn, latent_dim, sigma), images, s, seed=seed,
                                 progress=progress, desc=f"sigma {sigma}")
        scores[float(sigma)] = float(est.log_px.mean())
    # a non-finite score (a diverged chain) never wins
    best = max(scores, key=lambda k: scores[k] if math.isfinite(scores[k]) else -math.inf)
    return best, scores
