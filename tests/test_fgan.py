"""f-GAN (Nowozin et al. 2016): the conjugates by hand, Fenchel's inequality, the optimal critic between two Gaussians
recovering each divergence, the losses in the GAN module, the configs, and a small run of each divergence."""

import math
import typing

import pytest
import torch
import yaml

from helpers import in_process, small_overrides
from lit_gen.config import load_config
from lit_gen.errors import UserError
from lit_gen.models.gan import GAN, GANConfig, losses
from lit_gen.models.gan import fdivergences as FD
from lit_gen.models.optim import OptimConfig
from lit_gen.spec import DataSpec

NAMES = list(FD.DIVERGENCES)
LOG2, E = math.log(2), math.e
f64 = torch.float64


def t64(*values):
    return torch.tensor(values, dtype=f64)


# --------------------------------------------------------------------------- Table 2, by hand

# name: ([(t, f*(t))], [(v, g_f(v))]), each value worked out by hand from Table 2's formula, as the comment says
HAND = {
    # f*(t) = e^(t-1): e^0 = 1; e^-1; e^2.   g(v) = v
    "kl": ([(1.0, 1.0), (0.0, 1 / E), (3.0, E**2)], [(2.0, 2.0), (-1.5, -1.5)]),
    # f*(t) = -1 - log(-t): -1 - log 1 = -1; -1 - log e = -2; -1 - log(1/2) = log 2 - 1.   g(v) = -e^-v: -1, -1/2
    "reverse_kl": ([(-1.0, -1.0), (-E, -2.0), (-0.5, LOG2 - 1)], [(0.0, -1.0), (LOG2, -0.5)]),
    # f*(t) = t^2/4 + t: 0; 4/4 + 2 = 3; 4/4 - 2 = -1 (f*'s minimum).   g(v) = v
    "pearson": ([(0.0, 0.0), (2.0, 3.0), (-2.0, -1.0)], [(0.7, 0.7)]),
    # f*(t) = t/(1-t): 0; 0.5/0.5 = 1; -1/2.   g(v) = 1 - e^-v: 1 - 1 = 0, 1 - 1/2 = 1/2
    "hellinger": ([(0.0, 0.0), (0.5, 1.0), (-1.0, -0.5)], [(0.0, 0.0), (LOG2, 0.5)]),
    # f*(t) = -log(2 - e^t): -log 1 = 0; -log(2 - 1.5) = log 2; -log(2 - 1/2) = -log 1.5.
    # g(v) = log 2 - log(1 + e^-v): log 2 - log 2 = 0; log 2 - log(4/3) = log 1.5
    "js": ([(0.0, 0.0), (math.log(1.5), LOG2), (-LOG2, -math.log(1.5))], [(0.0, 0.0), (math.log(3), math.log(1.5))]),
    # f*(t) = -log(1 - e^t): -log(1/2) = log 2; -log(1/4) = log 4; -log(3/4).
    # g(v) = -log(1 + e^-v): -log 2; -log(1 + 1/3) = log(3/4)
    "gan": ([(-LOG2, LOG2), (math.log(0.75), math.log(4)), (-math.log(4), -math.log(0.75))],
            [(0.0, -LOG2), (math.log(3), math.log(0.75))]),
}
# Table 2's last column, f'(1): where the optimal T = f'(p/q) sits when data and generator agree
BALANCE = {"kl": 1.0, "reverse_kl": -1.0, "pearson": 0.0, "hellinger": 0.0, "js": 0.0, "gan": -LOG2}


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_and_activation_match_hand_worked_values(name):
    div = FD.DIVERGENCES[name]
    conj, act = HAND[name]
    for t, want in conj:
        assert float(div.conjugate(t64(t))) == pytest.approx(want, abs=1e-12), (name, t)
    for v, want in act:
        assert float(div.activation(t64(v))) == pytest.approx(want, abs=1e-12), (name, v)
    assert div.balance == pytest.approx(BALANCE[name])


def f_prime(div, u):
    u = u.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(div.f(u).sum(), u)
    return grad


@pytest.mark.parametrize("name", NAMES)
def test_fenchel_inequality_and_equality_at_the_maximiser(name):
    """f*(t) = sup_u [t u - f(u)]: at least t u - f(u) for every u > 0 and t in dom f* (the activation's range), and
    equal where t = f'(u), the u that attains the supremum."""
    div = FD.DIVERGENCES[name]
    g = torch.Generator().manual_seed(0)
    u = torch.exp(torch.empty(400, dtype=f64).uniform_(-4, 4, generator=g))  # 0.02 .. 55
    t = div.activation(3 * torch.randn(400, dtype=f64, generator=g))
    gap = div.conjugate(t)[:, None] - (t[:, None] * u[None, :] - div.f(u)[None, :])
    assert float(gap.min()) >= -1e-9
    t_star = f_prime(div, u)
    torch.testing.assert_close(div.conjugate(t_star), t_star * u - div.f(u), rtol=1e-9, atol=1e-9)
    assert float(f_prime(div, t64(1.0))) == pytest.approx(div.balance)  # Table 2's f'(1)


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_at_is_f_star_of_g_f(name):
    div = FD.DIVERGENCES[name]
    v = torch.linspace(-8, 8, 161, dtype=f64)
    torch.testing.assert_close(div.conjugate_at(v), div.conjugate(div.activation(v)), rtol=1e-10, atol=1e-10)


def test_the_composed_conjugates_stay_finite_where_the_plain_composition_does_not():
    # squared Hellinger: 1 - e^-30 rounds to 1 in float32, so t / (1 - t) divides by zero; e^30 - 1 is the value
    h, v = FD.DIVERGENCES["hellinger"], torch.tensor([30.0])
    assert torch.isinf(h.conjugate(h.activation(v))).all()
    assert float(h.conjugate_at(v)) == pytest.approx(math.expm1(30.0), rel=1e-6)
    # reverse KL: e^-110 underflows to 0 in float32, so -1 - log(0) = inf; the value is v - 1 = 109
    r, v = FD.DIVERGENCES["reverse_kl"], torch.tensor([110.0])
    assert torch.isinf(r.conjugate(r.activation(v))).all()
    assert float(r.conjugate_at(v)) == 109.0
    # JS and GAN: softplus forms, finite with finite gradients at any logit
    for name in ("js", "gan"):
        v = torch.tensor([-1000.0, -100.0, 100.0, 1000.0], requires_grad=True)
        dis, gen = FD.fgan_losses(f"fgan_{name}")
        loss = dis(v, v) + gen(v) + FD.fgan_loss_gen_minimax(FD.DIVERGENCES[name], v)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(v.grad).all(), name


def test_the_gan_row_is_the_original_gan_and_js_is_it_up_to_constants():
    g = torch.Generator().manual_seed(1)
    real, fake = 4 * torch.randn(64, generator=g), 4 * torch.randn(64, generator=g)
    dis, alt = FD.fgan_losses("fgan_gan", "alternative")
    _, mm = FD.fgan_losses("fgan_gan", "minimax")
    torch.testing.assert_close(dis(real, fake), losses.gan_loss_dis(real, fake))
    torch.testing.assert_close(alt(fake), losses.ns_loss_gen(fake))  # the paper's generator = non-saturating
    torch.testing.assert_close(mm(fake), losses.minimax_loss_gen(fake))
    # JS: -F = softplus(-v_real) + softplus(v_fake) - 2 log 2; its generator -(log 2 - softplus(-v))
    dis, alt = FD.fgan_losses("fgan_js")
    torch.testing.assert_close(dis(real, fake), losses.gan_loss_dis(real, fake) - 2 * LOG2)
    torch.testing.assert_close(alt(fake), losses.ns_loss_gen(fake) - LOG2)


# --------------------------------------------------------------------------- the optimal critic, P = N(0,1), Q = N(1,1)

GRID = torch.linspace(-12.0, 13.0, 50001, dtype=f64)


def _density(x, mu):
    return torch.exp(-0.5 * (x - mu) ** 2) / math.sqrt(2 * math.pi)


# D_f(P || Q) = E_Q[f(p/q)] from each divergence's definition (not from the module's f), as integrands in p and q
INTEGRANDS = {
    "kl": lambda p, q: p * torch.log(p / q),
    "reverse_kl": lambda p, q: q * torch.log(q / p),
    "pearson": lambda p, q: (p - q) ** 2 / q,
    "hellinger": lambda p, q: (p.sqrt() - q.sqrt()) ** 2,
    # the paper's f gives KL(P || M) + KL(Q || M), M = (P + Q) / 2: twice the 1/2-weighted JS
    "js": lambda p, q: p * torch.log(2 * p / (p + q)) + q * torch.log(2 * q / (p + q)),
    "gan": lambda p, q: p * torch.log(p / (p + q)) + q * torch.log(q / (p + q)),  # 2 JS - log 4
}


def true_divergence(name):
    p, q = _density(GRID, 0.0), _density(GRID, 1.0)
    return float(torch.trapezoid(INTEGRANDS[name](p, q), GRID))


def test_the_grid_integrals_match_the_closed_forms():
    # unit variances, means 0 and 1: KL both ways (mu1 - mu2)^2 / 2; chi^2 = e^((mu1 - mu2)^2) - 1;
    # squared Hellinger 2 (1 - e^(-(mu1 - mu2)^2 / 8)); the GAN's = the paper's JS - log 4
    assert true_divergence("kl") == pytest.approx(0.5, abs=1e-9)
    assert true_divergence("reverse_kl") == pytest.approx(0.5, abs=1e-9)
    assert true_divergence("pearson") == pytest.approx(E - 1, abs=1e-9)
    assert true_divergence("hellinger") == pytest.approx(2 * (1 - math.exp(-1 / 8)), abs=1e-9)
    assert true_divergence("gan") == pytest.approx(true_divergence("js") - math.log(4), abs=1e-9)
    assert 0 < true_divergence("js") < math.log(4)


def quantiles(n, mu):
    """The n quantiles (i + 1/2) / n of N(mu, 1): samples without the Monte Carlo noise of random draws."""
    u = (torch.arange(n, dtype=f64) + 0.5) / n
    return mu + math.sqrt(2) * torch.erfinv(2 * u - 1)


def fitted_bound(activation, conjugate_at, n=4000, degree=4):
    """max over a degree-4 polynomial critic V of F = mean_P g_f(V) - mean_Q f*(g_f(V)), P = N(0,1), Q = N(1,1).

    Degree 4 holds the optimal V of five rows exactly (log p/q is linear in x here) and Pearson's T* = 2(p/q - 1)
    = 2(e^(1/2 - x) - 1) to within 1%; few enough coefficients that 4000 points cannot be overfitted."""
    def powers(x):
        return torch.stack([((x - 0.5) / 2) ** k for k in range(degree + 1)], 1)

    fp, fq = powers(quantiles(n, 0.0)), powers(quantiles(n, 1.0))
    w = torch.zeros(degree + 1, dtype=f64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe", tolerance_grad=1e-10,
                            tolerance_change=1e-14)

    def bound():
        return activation(fp @ w).mean() - conjugate_at(fq @ w).mean()

    def closure():
        opt.zero_grad()
        loss = -bound()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(bound())


REL, ABS = 0.03, 0.005  # the fits land within 0.3% of the truth, Pearson (a polynomial for an exp) within 1%


@pytest.mark.parametrize("name", NAMES)
def test_the_optimal_critic_recovers_the_divergence_between_two_gaussians(name):
    div = FD.DIVERGENCES[name]
    assert fitted_bound(div.activation, div.conjugate_at) == pytest.approx(true_divergence(name), rel=REL, abs=ABS)


# one plausible slip per row of Table 2 (a dropped constant or term, or a neighbouring row's formula)
SLIPS = {
    "kl": lambda t: torch.exp(t),  # e^(t-1) without its -1: the bound drops by 1
    "reverse_kl": lambda t: -torch.log(-t),  # without the -1
    "pearson": lambda t: t**2 / 4,  # without + t: the bound rises by 1
    "hellinger": lambda t: 1 / (1 - t),  # t/(1-t) + 1
    "js": lambda t: -torch.log(1 - torch.exp(t) / 2),  # -log(2 - e^t) without its -log 2
    "gan": lambda t: -torch.log(2 - torch.exp(t)),  # the JS row's
}


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_conjugate_misses_the_divergence(name):
    """The tolerance above is tight enough to catch a slip in the table."""
    div = FD.DIVERGENCES[name]
    got = fitted_bound(div.activation, lambda v: SLIPS[name](div.activation(v)))
    assert math.isfinite(got) and got != pytest.approx(true_divergence(name), rel=REL, abs=ABS)


# --------------------------------------------------------------------------- in the GAN module


def test_config_names_match_the_registered_divergences():
    choices = typing.get_args(typing.get_type_hints(GANConfig)["loss"])
    assert {c for c in choices if c.startswith("fgan_")} == {f"fgan_{n}" for n in NAMES}
    assert set(typing.get_args(typing.get_type_hints(GANConfig)["fgan_generator"])) == set(FD.GENERATOR_OBJECTIVES)
    assert FD.divergence_of("nonsaturating") is None and FD.divergence_of("fgan_js") is FD.DIVERGENCES["js"]


@pytest.mark.parametrize("generator", ["alternative", "minimax"])
def test_the_module_logs_the_bound_and_draws_the_variational_function(generator):
    torch.manual_seed(0)
    cfg = GANConfig(net="mlp", loss="fgan_hellinger", fgan_generator=generator, latent_dim=3, g_width=16,
                    d_width=16, depth=2)
    gan = GAN(cfg, OptimConfig(lr=1e-3, betas=[0.5, 0.999]), DataSpec(1, 1, vector_dim=2))
    real = torch.randn(32, 2)
    terms = gan.d_terms(real)
    assert float(terms["fdiv"]) == pytest.approx(-float(terms["loss_d"].detach()))  # no penalty: loss_d = -F
    terms["loss_d"].backward()
    assert all(p.grad is not None for p in gan.discriminator.parameters())
    want = {"alternative": FD.fgan_loss_gen_alternative, "minimax": FD.fgan_loss_gen_minimax}[generator]
    assert gan.gen_loss.func is want and gan.gen_loss.args == (FD.DIVERGENCES["hellinger"],)
    x = torch.randn(5, 2)
    torch.testing.assert_close(gan.critic(x), 1 - torch.exp(-gan.discriminator(x)))  # T = g_f(V) for Hellinger


def test_configs_take_the_f_gan_losses():
    cfg = load_config("configs/fgan.yaml")
    assert cfg.model.loss.startswith("fgan_") and cfg.model.fgan_generator == "alternative"
    assert cfg.trainer.accelerator == "auto" and cfg.data.name == "scenes"
    for toy in ("gan_ring8", "gan_grid25", "gan_toy1d"):  # the toy densities: an override, no config of their own
        assert load_config(f"configs/{toy}.yaml", ["model.loss=fgan_pearson"]).model.loss == "fgan_pearson"
    with pytest.raises(UserError, match=r"^model.fgan_generator=minimax: only the f-GAN losses"):
        load_config("configs/gan.yaml", ["model.fgan_generator=minimax"])


FIT = ["--config", "configs/fgan.yaml", *small_overrides("gan", "trainer.limit_train_batches=2")]


@pytest.mark.parametrize("override,parts", [
    ("model.loss=fgan_kullback", ["model.loss='fgan_kullback'", "choose one of", "fgan_reverse_kl"]),
    ("model.fgan_generator=saddle", ["model.fgan_generator='saddle'", "choose one of", "alternative"]),
])
def test_a_bad_f_gan_setting_is_one_line_naming_the_key(override, parts, tmp_path):
    r = in_process("fit", *FIT, f"run.dir={tmp_path}", override)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert all(p in lines[0] for p in parts) and "Traceback" not in r.stderr + r.stdout, lines[0]


@pytest.mark.parametrize("name", NAMES)
def test_each_divergence_trains_and_its_checkpoint_names_it(name, tmp_path):
    r = in_process("fit", *FIT, f"model.loss=fgan_{name}", f"run.dir={tmp_path}", "run.name=r")
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = torch.load(tmp_path / "r" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert yaml.safe_load(ckpt["lit_gen"]["config"])["model"]["loss"] == f"fgan_{name}"
    assert ckpt["hyper_parameters"]["model"]["loss"] == f"fgan_{name}"
    assert ckpt["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
