"""The PixelVAE: masked convolutions' receptive fields, the discretised logistic, sequential generation, the CLI."""

import json

import pytest
import torch

from helpers import in_process, small
from lit_gen.config import load_config
from lit_gen.models.components import discretized_logistic as dlog
from lit_gen.models.components.pixelcnn import ConditionalPixelCNN, MaskedConv2d, channel_groups
from lit_gen.models.optim import OptimConfig
from lit_gen.models.pixelvae import PixelVAE, PixelVAEConfig
from lit_gen.spec import DataSpec


# ----------------------------------------------------------------------------- receptive fields
def _offsets(kernel: int) -> list:
    """The taps a mask keeps away from its centre, as (row, column) offsets: every row above, the left of the
    centre row (van den Oord et al. 2016)."""
    p = kernel // 2
    return [(di, dj) for di in range(-p, 0) for dj in range(-p, p + 1)] + [(0, dj) for dj in range(-p, 0)]


def _layer(kind: str, kernel: int, size: int, groups: int) -> torch.Tensor:
    """(size, size, G, size, size, G) bool: output (i, j) of group g reads input (i', j') of group g' through one
    masked layer. Off the centre every group pair; at the centre g' < g (type A) or g' <= g (type B). Taps that
    leave the image read the zero padding: nothing."""
    m = torch.zeros(size, size, groups, size, size, groups, dtype=torch.bool)
    below = torch.arange(groups)[None, :] < torch.arange(groups)[:, None]  # [g, g']
    centre = below if kind == "A" else below | torch.eye(groups, dtype=torch.bool)
    for i in range(size):
        for j in range(size):
            m[i, j, :, i, j, :] = centre
            for di, dj in _offsets(kernel):
                if 0 <= i + di < size and 0 <= j + dj < size:
                    m[i, j, :, i + di, j + dj, :] = True
    return m


def expected_dependencies(layers: int, kernel: int, size: int, channels: int) -> torch.Tensor:
    """(size, size, C, size, size, C) bool: which input values each output value of the stack (layers masked
    layers, A then B, then the 1x1 B head) depends on, composed from the masks' definition; a group of hidden
    units stands for all of them."""
    n = size * size * channels

    def flat(kind, k):
        return _layer(kind, k, size, channels).reshape(n, n).double()

    dep = flat("A", kernel)
    for _ in range(layers - 1):
        dep = (flat("B", kernel) @ dep > 0).double()
    dep = flat("B", 1) @ dep > 0  # the head
    return dep.reshape(size, size, channels, size, size, channels).bool()


def measured_dependencies(fn, channels: int, size: int, outputs_per_channel: int) -> torch.Tensor:
    """The same table from autograd: |d out[c](i, j) / d x| summed over random inputs (enough of them that the
    ReLUs of the head let every path through for some), nonzero or not."""
    torch.manual_seed(0)
    x = torch.randn(32, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = fn(x)  # (32, C * outputs_per_channel, size, size)
    dep = torch.zeros(size, size, channels, size, size, channels, dtype=torch.bool)
    for i in range(size):
        for j in range(size):
            for c in range(channels):
                sel = out[:, c * outputs_per_channel : (c + 1) * outputs_per_channel, i, j]
                (g,) = torch.autograd.grad(sel.pow(2).sum(), x, retain_graph=True)
                dep[i, j, c] = (g.abs().sum(0) > 0).permute(1, 2, 0)
    return dep


def _raster_later(size: int, channels: int) -> torch.Tensor:
    """[i, j, c, i', j', c'] true where (i', j', c') is at or after (i, j, c) in raster order."""
    order = torch.arange(size * size * channels).view(size, size, channels)
    return order[None, None, None] >= order[:, :, :, None, None, None]


@pytest.mark.parametrize("channels", [1, 3])
def test_type_a_layer_reads_only_earlier_pixels_and_all_of_its_kernel(channels):
    size, kernel, width = 7, 5, 6
    conv = MaskedConv2d("A", channels, width, kernel, torch.arange(channels), channel_groups(width, channels)).double()
    got = measured_dependencies(conv, channels, size, width // channels)
    want = _layer("A", kernel, size, channels)
    assert not (want & _raster_later(size, channels)).any()  # the expectation itself is causal
    assert not (got & _raster_later(size, channels)).any(), "an output reads a pixel at or after its own"
    assert torch.equal(got, want)


@pytest.mark.parametrize("channels,layers,kernel", [(1, 3, 3), (1, 2, 5), (3, 2, 3)])
def test_the_stack_reads_only_earlier_pixels_and_its_whole_receptive_field(channels, layers, kernel):
    size = 9
    net = ConditionalPixelCNN(channels, cond_channels=2, width=12, layers=layers, kernel=kernel, params=2).double()
    s = torch.randn(32, 2, size, size, dtype=torch.float64)
    got = measured_dependencies(lambda x: net(x, s).flatten(1, 2), channels, size, 2)
    want = expected_dependencies(layers, kernel, size, channels)
    assert not (got & _raster_later(size, channels)).any(), "an output reads a pixel at or after its own"
    assert torch.equal(got, want)
    # far from the edges the field reaches layers * (kernel // 2) rows up (the blind spot aside)
    i = j = size - 1
    assert want[i, j, 0, i - net.reach, j, 0] and not want[i, j, 0, :i - net.reach].any()


def test_the_window_gives_the_full_nets_output_at_every_pixel():
    torch.manual_seed(0)
    net = ConditionalPixelCNN(1, cond_channels=3, width=8, layers=3, kernel=5, params=4).double()
    x, s = torch.randn(2, 1, 11, 11).double(), torch.randn(2, 3, 11, 11).double()
    full = net(x, s)
    for i in range(11):
        for j in range(11):
            torch.testing.assert_close(net.forward_at(x, s, i, j), full[..., i, j], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- the discretised logistic
SETTINGS = [(0.0, -3.0), (0.7, -1.0), (-0.98, -6.9), (1.5, -2.0), (-2.0, 0.5), (0.3, 3.0), (0.0, -7.5)]


@pytest.mark.parametrize("loc,log_scale", SETTINGS)
def test_the_256_bins_sum_to_one(loc, log_scale):
    lp = dlog.all_bin_log_probs(torch.tensor([loc]), torch.tensor([log_scale]), None, dim=0)
    assert lp.shape == (256,) and torch.isfinite(lp).all()
    assert abs(float(lp.double().exp().sum()) - 1.0) < 1e-5


def test_a_mixtures_bins_sum_to_one_and_weight_its_components():
    g = torch.Generator().manual_seed(0)
    loc, log_scale, logits = torch.randn(3, 6, 4, generator=g), torch.randn(3, 6, 4, generator=g) - 2, torch.randn(
        3, 6, 4, generator=g)
    lp = dlog.all_bin_log_probs(loc, log_scale, logits, dim=-1)  # (256, 3, 6)
    assert (lp.double().exp().sum(0) - 1).abs().max() < 1e-5
    comps = dlog.all_bin_log_probs(loc.unsqueeze(-1), log_scale.unsqueeze(-1), None, dim=-1).exp()  # (256, 3, 6, 4)
    torch.testing.assert_close(lp.exp(), (comps * torch.softmax(logits, -1)).sum(-1), rtol=1e-5, atol=1e-7)


def _sigmoid(v: float) -> float:
    return float(torch.sigmoid(torch.tensor(v, dtype=torch.float64)))


@pytest.mark.parametrize("loc,log_scale", SETTINGS[:-1])  # the last one's scale is below the floor
def test_edge_and_inner_bins_follow_the_papers_definition(loc, log_scale):
    s, h = torch.tensor(log_scale, dtype=torch.float64).exp().item(), 1 / 255
    x = torch.tensor([0.0, 1.0, 100 / 255])  # levels 0, 255 and 100
    lp = dlog.mixture_log_prob(x, torch.full((3, 1), loc), torch.full((3, 1), log_scale), None, dim=-1)
    p = lp.double().exp()
    c100 = 2 * 100 / 255 - 1
    # level 0 takes everything below its upper edge; level 255 everything above its lower edge
    assert abs(float(p[0]) - _sigmoid((-1 + h - loc) / s)) < 1e-6
    assert abs(float(p[1]) - (1 - _sigmoid((1 - h - loc) / s))) < 1e-6
    assert abs(float(p[2]) - (_sigmoid((c100 + h - loc) / s) - _sigmoid((c100 - h - loc) / s))) < 1e-6


def test_draws_follow_the_bin_probabilities():
    # a wide component, one that spills into level 0, and one narrower than a bin just off level 100's centre
    loc = torch.tensor([0.2, -0.95, 2 * 100 / 255 - 1 + 0.003])
    log_scale, logits = torch.tensor([-2.0, -3.0, -5.5]), torch.tensor([1.0, 0.0, -0.5])
    g = torch.Generator().manual_seed(0)
    n = 400_000
    u1, u2 = torch.rand(n, generator=g), torch.rand(n, generator=g)
    x = dlog.mixture_sample(loc.expand(n, 3), log_scale.expand(n, 3), logits.expand(n, 3), -1, u1, u2)
    freq = torch.bincount(torch.round(x * 255).long(), minlength=256).double() / n
    p = dlog.all_bin_log_probs(loc, log_scale, logits, dim=0).double().exp()
    assert (freq - p).abs().max() < 4e-3 and freq[0] > 0.01  # the left tail lands on level 0
    mean = dlog.mixture_mean(loc, log_scale, logits, dim=0)
    assert abs(float(mean) - float(x.double().mean())) < 3e-3


# ----------------------------------------------------------------------------- the model
def make_model(likelihood="discretized_logistic", channels=1, size=8, **kw):
    cfg = PixelVAEConfig(**{**dict(latent_dim=4, widths=[8, 16], cond_channels=3, pixelcnn_layers=2,
                                   pixelcnn_width=6, likelihood=likelihood, logistic_mixtures=2), **kw})
    return PixelVAE(cfg, OptimConfig(), DataSpec(channels=channels, image_size=size)).eval()


@pytest.mark.parametrize("likelihood,channels", [("discretized_logistic", 1), ("discretized_logistic", 3),
                                                 ("bernoulli", 1)])
def test_generation_is_the_teacher_forced_likelihoods_own_ancestral_sampling(likelihood, channels):
    """Replaying a sequential draw through the one-pass likelihood gives, at every pixel, the parameters the draw
    used: the uniforms map through them to the same values again."""
    torch.manual_seed(0)
    m = make_model(likelihood, channels)
    z = torch.randn(5, 4)
    x = m.generate(z, "draw", torch.Generator().manual_seed(3))
    levels = (0, 1) if likelihood == "bernoulli" else None
    assert x.shape == (5, channels, 8, 8) and x.min() >= 0 and x.max() <= 1
    if levels:
        assert set(x.unique().tolist()) <= {0.0, 1.0}
    else:
        torch.testing.assert_close(x, torch.round(x * 255) / 255)
    u = torch.rand(2, 8, 8, channels, 5, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = m.pixelcnn(m.net_input(x), m.conditioning(z)).movedim(2, -1)  # (5, C, 8, 8, params)
        again = m._draw(out.permute(2, 3, 1, 0, 4), u[0], u[1]).permute(3, 2, 0, 1)
    torch.testing.assert_close(again, x)
    same = m.generate(z, "draw", torch.Generator().manual_seed(3))
    torch.testing.assert_close(same, x)


def test_mean_path_and_draws_and_the_protocol():
    torch.manual_seed(0)
    m = make_model()
    a = m.sample(4, generator=torch.Generator().manual_seed(1))
    b = m.sample(4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    path = m.sample(4, generator=torch.Generator().manual_seed(1), mode="mean_path")
    assert path.shape == a.shape and not torch.equal(path, a)
    z = torch.randn(2, 3, 4)
    assert m.to_image(m.decode(z)).shape == (2, 3, 1, 8, 8)
    x = torch.rand(3, 1, 8, 8)
    assert m.reconstruct(x).shape == x.shape
    terms = m.loss_terms(x)
    assert all(v.shape == (3,) for v in terms.values()) and (terms["kl"] >= 0).all()


def test_iw_log_likelihood_k1_averages_to_the_elbo_and_k_tightens_it():
    torch.manual_seed(0)
    m = make_model()
    x = torch.rand(3, 1, 8, 8)
    reps = 600
    with torch.no_grad():
        k1 = m.log_likelihood(x.repeat(reps, 1, 1, 1), k=1).view(reps, 3).mean(0)
        elbo = m.loss_terms(x.repeat(reps, 1, 1, 1))["elbo"].view(reps, 3).mean(0)
    torch.testing.assert_close(k1, elbo, rtol=0, atol=0.3)
    assert (m.log_likelihood(x, k=200, chunk=64) > elbo).all()


# ----------------------------------------------------------------------------- configs and the CLI
def test_the_configs_change_only_the_decoder_and_likelihood():
    decoder_keys = {"name", "cond_channels", "pixelcnn_layers", "pixelcnn_width", "pixelcnn_kernel", "likelihood",
                    "logistic_mixtures", "init_output_bias"}
    for vae, pixel in (("configs/vae.yaml", "configs/pixelvae.yaml"),
                       ("configs/vae_mnist.yaml", "configs/experiments/pixelvae_mnist.yaml")):
        a, b = load_config(vae), load_config(pixel)
        assert b.model.name == "pixelvae"
        for section in ("data", "optim", "trainer", "metrics", "seed"):
            assert a[section] == b[section], (pixel, section)
        shared = (set(a.model) & set(b.model)) - decoder_keys
        assert {"net", "latent_dim", "mc_samples", "beta"} <= shared
        assert all(a.model[k] == b.model[k] for k in shared), pixel


@pytest.mark.parametrize("override,start", [
    ("model.pixelcnn_layers=0", "error: model.pixelcnn_layers=0: must be >= 1"),
    ("model.logistic_mixtures=0", "error: model.logistic_mixtures=0: must be >= 1"),
    ("model.pixelcnn_kernel=4", "error: model.pixelcnn_kernel=4: must be odd"),
])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, override, start):
    r = in_process("fit", "--config", "configs/pixelvae.yaml", override, f"run.dir={tmp_path}")
    assert r.returncode == 2
    assert r.stderr.startswith(start) and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


def test_fit_reload_sample_and_the_test_nll(tmp_path):
    from lit_gen.checkpoints import load_model

    r = in_process("fit", *small("vae", "model.name=pixelvae", "model.likelihood=discretized_logistic",
                                 "model.logistic_mixtures=2", "model.pixelcnn_width=8", "model.pixelcnn_layers=2",
                                 "model.cond_channels=4", "data.image_size=16", "model.widths=[8,16]",
                                 "metrics.nll_k=4", f"run.dir={tmp_path}", "run.name=r"))
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path / "r"
    final = json.loads((d / "final_metrics.json").read_text())
    assert final["test/nll_k"] == 4 and 0 < final["test/nll"] < float("inf")
    assert final["val/kl"] >= 0 and final["test/elbo"] < 0
    for name in ("samples.png", "reconstructions.png", "traversals.png"):
        assert (d / "images" / name).is_file(), name

    model, _, cfg, _ = load_model(str(d / "checkpoints" / "last.ckpt"))
    assert isinstance(model, PixelVAE) and cfg.model.pixelcnn_layers == 2
    ckpt = torch.load(d / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, ckpt["state_dict"][k])
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 16, 16) and x.min() >= 0 and x.max() <= 1
    torch.testing.assert_close(x, torch.round(x * 255) / 255)  # on the 256 levels

    r = in_process("fit", *small("vae", "model.name=pixelvae", "model.pixelcnn_width=8", "model.pixelcnn_layers=1",
                                 "data.image_size=16", "model.widths=[8,16]", "metrics.nll_k=0",
                                 "metrics.every_n_epochs=5", f"run.dir={tmp_path}", "run.name=no-nll"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "test/nll" not in json.loads((tmp_path / "no-nll" / "final_metrics.json").read_text())
