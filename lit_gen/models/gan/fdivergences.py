"""f-GAN (Nowozin, Cseke, Tomioka 2016): the GAN trained under any f-divergence, as small pure functions.

An f-divergence between the data P and the generator's distribution Q is D_f(P || Q) = E_Q[f(p(x) / q(x))] for a
convex f (the generator function, the paper's Table 1). Its Fenchel conjugate f*(t) = sup_u [t u - f(u)] gives the
variational lower bound that a discriminator can estimate from samples alone:

    D_f(P || Q) >= sup_T  E_P[T(x)] - E_Q[f*(T(x))],   equality at T*(x) = f'(p(x) / q(x)).

The discriminator's raw output v = V(x) (any real number) passes through the divergence's output activation
T = g_f(v), which maps R into the domain of f*; the discriminator maximises (the paper's Eq. 6)

    F = E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))].

g_f and f* are the paper's Table 2. F's second term is computed as one function of v (``conjugate_at``), simplified
by hand so that it needs no log of an exp: softplus where the activation is a log-sigmoid (JS, GAN), and the plain
form where the composition cancels (reverse KL: v - 1; squared Hellinger: e^v - 1, where t / (1 - t) at
t = 1 - e^-v would divide by a rounded zero from v = 17 on in float32). KL's e^(v - 1) and Hellinger's e^v are the
objective itself, not a rounding artefact, and still overflow float32 from v ≈ 89 on.

The generator: by default the paper's alternative objective (its Section 3.2), maximise E_Q[g_f(V(x))], which the
paper used in all its experiments: like the non-saturating GAN loss, of which it is the generalisation, it keeps the
stationary point of the saddle-point game and gives the generator strong gradients early, when D rejects its samples
easily. ``model.fgan_generator=minimax`` instead minimises F itself (for the "gan" divergence these are exactly the
``nonsaturating`` and ``minimax`` losses of :mod:`lit_gen.models.gan.losses`).

Two rows state a constant that is easy to get wrong: the paper's Jensen-Shannon f gives KL(P || M) + KL(Q || M),
twice the 1/2-weighted JS (so at most log 4), and its "GAN" divergence is that minus log 4 (at most 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

LOG2 = math.log(2.0)
Fn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FDivergence:
    name: str
    f: Fn  # the generator function f(u), u > 0 (Table 1)
    activation: Fn  # g_f: R -> dom f* (Table 2)
    conjugate: Fn  # f*(t) on dom f* (Table 2)
    conjugate_at: Fn  # f*(g_f(v)) as one function of v, without overflow (see the module docstring)
    balance: float  # f'(1): the optimal T = g_f(V) where data and generator agree (Table 2's last column)


# --- forward KL: f(u) = u log u ---------------------------------------------------------------
def kl_f(u):
    return torch.xlogy(u, u)


def kl_activation(v):
    return v


def kl_conjugate(t):
    return torch.exp(t - 1.0)


# --- reverse KL: f(u) = -log u ----------------------------------------------------------------
def reverse_kl_f(u):
    return -torch.log(u)


def reverse_kl_activation(v):
    return -torch.exp(-v)


def reverse_kl_conjugate(t):
    return -1.0 - torch.log(-t)


def reverse_kl_conjugate_at(v):
    return v - 1.0  # -1 - log(exp(-v)); the log of the exp would give inf once exp(-v) underflows


# --- Pearson chi^2: f(u) = (u - 1)^2 ----------------------------------------------------------
def pearson_f(u):
    return (u - 1.0) ** 2


def pearson_activation(v):
    return v


def pearson_conjugate(t):
    return 0.25 * t**2 + t


# --- squared Hellinger: f(u) = (sqrt(u) - 1)^2 ------------------------------------------------
def hellinger_f(u):
    return (torch.sqrt(u) - 1.0) ** 2


def hellinger_activation(v):
    return -torch.expm1(-v)  # 1 - exp(-v)


def hellinger_conjugate(t):
    return t / (1.0 - t)


def hellinger_conjugate_at(v):
    return torch.expm1(v)  # (1 - e^-v) / e^-v


# --- Jensen-Shannon, the paper's: f(u) = u log u - (u + 1) log((u + 1) / 2) -------------------
def js_f(u):
    return torch.xlogy(u, u) - (u + 1.0) * torch.log((u + 1.0) / 2.0)


def js_activation(v):
    return LOG2 - F.softplus(-v)  # log 2 - log(1 + exp(-v))


def js_conjugate(t):
    return -LOG2 - torch.log(-torch.expm1(t - LOG2))  # -log(2 - e^t), exact near t = log 2


def js_conjugate_at(v):
    return F.softplus(v) - LOG2  # 2 - e^g = 2 sigmoid(-v) at g = log 2 + log sigmoid(v)


# --- the GAN's: f(u) = u log u - (u + 1) log(u + 1) -------------------------------------------
def gan_f(u):
    return torch.xlogy(u, u) - torch.xlogy(u + 1.0, u + 1.0)


def gan_activation(v):
    return -F.softplus(-v)  # log sigmoid(v)


def gan_conjugate(t):
    return -torch.log(-torch.expm1(t))  # -log(1 - e^t), exact near t = 0


def gan_conjugate_at(v):
    return F.softplus(v)  # -log(1 - sigmoid(v))


DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence("kl", kl_f, kl_activation, kl_conjugate, kl_conjugate, 1.0),  # g_f(v) = v
    "reverse_kl": FDivergence("reverse_kl", reverse_kl_f, reverse_kl_activation, reverse_kl_conjugate,
                              reverse_kl_conjugate_at, -1.0),
    "pearson": FDivergence("pearson", pearson_f, pearson_activation, pearson_conjugate, pearson_conjugate, 0.0),  # g_f(v) = v
    "hellinger": FDivergence("hellinger", hellinger_f, hellinger_activation, hellinger_conjugate,
                             hellinger_conjugate_at, 0.0),
    "js": FDivergence("js", js_f, js_activation, js_conjugate, js_conjugate_at, 0.0),
    "gan": FDivergence("gan", gan_f, gan_activation, gan_conjugate, gan_conjugate_at, -LOG2),
}
PREFIX = "fgan_"  # model.loss=fgan_<divergence>
GENERATOR_OBJECTIVES = ("alternative", "minimax")


# --- the objective and the losses, on the discriminator's raw outputs v (N,) -------------------------
def variational_bound(div: FDivergence, v_real: torch.Tensor, v_fake: torch.Tensor) -> torch.Tensor:
    """F = E_P[g_f(v)] - E_Q[f*(g_f(v))] on a batch: the estimate of D_f(data || generator) (paper Eq. 6)."""
    return div.activation(v_real).mean() - div.conjugate_at(v_fake).mean()


def fgan_loss_dis(div: FDivergence, v_real: torch.Tensor, v_fake: torch.Tensor) -> torch.Tensor:
    """-F: the discriminator maximises the bound."""
    return -variational_bound(div, v_real, v_fake)


def fgan_loss_gen_alternative(div: FDivergence, v_fake: torch.Tensor) -> torch.Tensor:
    """-E_Q[g_f(v)]: the paper's generator objective (Section 3.2)."""
    return -div.activation(v_fake).mean()


def fgan_loss_gen_minimax(div: FDivergence, v_fake: torch.Tensor) -> torch.Tensor:
    """F's generator term, -E_Q[f*(g_f(v))]: the generator minimises F itself."""
    return -div.conjugate_at(v_fake).mean()


def divergence_of(loss: str) -> FDivergence | None:
    """The divergence of an f-GAN ``model.loss`` (``fgan_js`` -> js); None for the other losses."""
    return DIVERGENCES.get(loss[len(PREFIX):]) if loss.startswith(PREFIX) else None


def fgan_losses(loss: str, generator: str = "alternative") -> tuple[Callable, Callable]:
    """(discriminator loss, generator loss) of ``model.loss=fgan_<divergence>``, as ``losses.LOSSES`` pairs."""
    div = divergence_of(loss)
    if div is None:
        raise KeyError(f"{loss!r} is not an f-GAN loss (fgan_{{{','.join(DIVERGENCES)}}})")
    gen = {"alternative": fgan_loss_gen_alternative, "minimax": fgan_loss_gen_minimax}[generator]
    return partial(fgan_loss_dis, div), partial(gen, div)
