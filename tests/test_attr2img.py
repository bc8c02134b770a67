"""Attribute2Image (cvae, discvae): shapes and ranges, composition, the gate loss, conditioning,
latent inference, and CLI smoke runs (fit + python -m lit_gen.complete). The CVAE-GAN variant: test_cvae_gan.py."""

import json

import pytest
import torch

from helpers import in_process, small
from lit_gen.data.scenes import renderer as R
from lit_gen.errors import UserError
from lit_gen.spec import DataSpec
from lit_gen.models.cvae import CVAE, CVAEConfig, DisCVAE, DisCVAEConfig
from lit_gen.models.optim import OptimConfig
from lit_gen.models.cvae import losses as L
from lit_gen.models.cvae.inference import complete, missing_mse, optimize_latents, square_holes

OPTIM = OptimConfig()
SCENES = DataSpec(3, 16, keys=("attributes", "factors", "image", "label", "mask"), num_classes=5,
                  attribute_names=R.ATTRIBUTE_NAMES)
MNIST = DataSpec(1, 16, keys=("image", "label"), num_classes=10)


def _cvae(data=SCENES, **kw):
    cfg = CVAEConfig(**{**dict(latent_dim=6, widths=[8, 16], feat_dim=16, y_hidden=8), **kw})
    torch.manual_seed(0)
    return CVAE(cfg, OPTIM, data).eval()


def _discvae(**kw):
    cfg = DisCVAEConfig(**{**dict(fg_latent_dim=5, bg_latent_dim=3, widths=[8, 16], feat_dim=16, y_hidden=8), **kw})
    torch.manual_seed(0)
    return DisCVAE(cfg, OPTIM, SCENES).eval()


def _batch(n=4, size=16):
    f = R.sample_factors(n, torch.Generator().manual_seed(1))
    img, mask = R.render(f, size, 3, "textured")
    return {"image": img, "mask": mask, "attributes": R.attributes(f), "label": f["shape"]}


# ----------------------------------------------------------------------------- shapes, ranges, y


def test_cvae_shapes_ranges_and_loss():
    m, b = _cvae(), _batch()
    x = m.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 3, 16, 16) and x.min() >= 0 and x.max() <= 1
    y = m.y_of(b)
    assert y.shape == (4, 15)
    mu, logvar = m.encode(b["image"], y)
    assert mu.shape == logvar.shape == (4, 6)
    assert torch.all(logvar == 0)  # log sigma^2 weights start at zero
    mean, lv = m.decode(mu, y)
    assert mean.shape == lv.shape == (4, 3, 16, 16) and mean.abs().max() <= 1 and lv.min() >= -7 - 1e-4 and lv.max() <= 2
    terms = m.loss_terms(b)
    assert all(v.shape == (4,) and torch.isfinite(v).all() for v in terms.values())
    r = m.reconstruct(b["image"], y)
    assert r.shape == b["image"].shape and 0 <= r.min() and r.max() <= 1
    assert m.reconstruct(b["image"]) is None  # the protocol's reconstruct(x) has no y


def test_laplace_likelihood():
    from lit_gen.models.vae.losses import laplace_nll

    loc, x, log_b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4) * 0.3
    ref = -torch.distributions.Laplace(loc, log_b.exp()).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(laplace_nll(loc, x, log_b), ref, atol=1e-5)
    m, b = _cvae(likelihood="laplace"), _batch()
    mean, lv = m.decode(m.encode(b["image"], m.y_of(b))[0], m.y_of(b))
    t = m.loss_terms(b)
    assert mean.shape == lv.shape == (4, 3, 16, 16) and torch.isfinite(t["loss"]).all()


def test_prior_y_is_valid_one_hot_per_group():
    m = _cvae()
    y = m.cond.prior(200, torch.Generator().manual_seed(0))
    assert torch.all(y[:, 0:5].sum(1) == 1) and torch.all(y[:, 5:11].sum(1) == 1)
    assert y[:, 11:].abs().max() <= 1 and set(m.cond.groups) == {"shape", "colour"}


def test_y_conditions_the_decoder():
    m = _cvae()
    z = torch.randn(3, 6)
    y = m.cond.prior(3, torch.Generator().manual_seed(0))
    a = m.generate(z, m.cond.set_value(y, "shape", 0))
    b = m.generate(z, m.cond.set_value(y, "shape", 3))
    assert (a - b).abs().max() > 1e-4
    assert torch.equal(a, m.generate(z, m.cond.set_value(y, "shape", 0)))
    # and the same for discvae's foreground decoder
    d = _discvae()
    z = torch.randn(3, d.latent_size)
    assert (d.generate(z, d.cond.set_value(y, "colour", 1)) - d.generate(z, d.cond.set_value(y, "colour", 4))).abs().max() > 1e-4


def test_label_condition_and_attributes_on_mnist_fail_clearly():
    m = _cvae(MNIST, likelihood="bernoulli")
    assert m.condition == "label" and m.cond.dim == 10 and set(m.cond.groups) == {"label"}
    y = m.y_of({"label": torch.tensor([3, 7])})
    assert y.argmax(1).tolist() == [3, 7]
    assert m.sample(2).shape == (2, 1, 16, 16)
    with pytest.raises(UserError, match="model.condition=attributes.*use model.condition=label"):
        _cvae(MNIST, condition="attributes")


# ----------------------------------------------------------------------------- discvae


def test_foreground_target_is_masked_after_scaling():
    x = torch.tensor([[[[0.0, 0.2], [0.6, 1.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    t = L.masked_foreground(x, mask)
    assert torch.allclose(t, torch.tensor([[[[-1.0, 0.0], [0.0, 1.0]]]]))


def test_composition_matches_hand_computation():
    x_f = torch.tensor([0.5, 0.0, -0.25])
    g = torch.tensor([0.0, 1.0, 0.5])
    x_b = torch.tensor([0.9, -0.4, 0.2])
    assert torch.allclose(L.compose(x_f, g, x_b), torch.tensor([0.5, -0.4, -0.15]))
    d = _discvae()
    z, y = torch.randn(2, d.latent_size), d.cond.prior(2)
    out = d.layers(z, y)
    assert torch.allclose(out["x_hat"], out["x_f"] + out["gate"] * out["x_b"])
    assert out["x_f"].shape == (2, 3, 16, 16) and out["gate"].shape == (2, 1, 16, 16)
    assert 0 <= out["gate"].min() and out["gate"].max() <= 1 and out["x_b"].abs().max() <= 1


def test_gate_loss_targets_the_background_mask():
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1:3, 1:3] = 1.0  # the object
    good = torch.where(mask > 0, -20.0, 20.0)  # g = 1 on the background, 0 on the object
    assert L.gate_loss(good, mask).item() < 1e-6
    assert L.gate_loss(-good, mask).item() > 100  # g = mask is wrong
    # and discvae_terms uses exactly that term, with gate_weight
    x = torch.zeros(1, 3, 4, 4)
    zero = torch.zeros(1)
    t = L.discvae_terms(x, -good, x, x, mask, zero, zero, gate_weight=0.3)
    assert torch.allclose(t["gate"], L.gate_loss(-good, mask))
    assert torch.allclose(t["loss"], t["fg"] + t["composite"] + 0.3 * t["gate"])


def test_kl_weights_of_the_two_latents():
    x, mask = torch.zeros(1, 3, 4, 4), torch.ones(1, 1, 4, 4)
    kl_f, kl_b = torch.tensor([2.0]), torch.tensor([10.0])
    rest = L.discvae_terms(x, torch.zeros(1, 1, 4, 4), x, x, mask, kl_f * 0, kl_b * 0, beta=1.0)["loss"]
    same = L.discvae_terms(x, torch.zeros(1, 1, 4, 4), x, x, mask, kl_f, kl_b, beta=0.5)["loss"]
    split = L.discvae_terms(x, torch.zeros(1, 1, 4, 4), x, x, mask, kl_f, kl_b, beta=0.5, beta_bg=0.1)["loss"]
    assert torch.allclose(same - rest, torch.tensor([0.5 * 2 + 0.5 * 10]))  # beta_bg unset: one beta for both
    assert torch.allclose(split - rest, torch.tensor([0.5 * 2 + 0.1 * 10]))


def test_discvae_loss_terms_and_gate_iou():
    d, b = _discvae(), _batch()
    terms = d.loss_terms(b)
    assert set(terms) == {"fg", "composite", "kl_f", "kl_b", "gate", "loss"}
    assert all(v.shape == (4,) and torch.isfinite(v).all() for v in terms.values())
    iou = d.gate_iou(b["image"], d.y_of(b), b["mask"])
    assert iou.shape == (4,) and 0 <= iou.min() and iou.max() <= 1
    r = d.reconstruct(b["image"], d.y_of(b), b["mask"])
    assert r.shape == b["image"].shape


# ----------------------------------------------------------------------------- inference


def test_latent_optimization_fits_the_known_pixels():
    m, b = _cvae(), _batch()
    y = m.y_of(b)
    known = square_holes(4, 16, 6, torch.Generator().manual_seed(0))
    assert known.shape == (4, 1, 16, 16) and torch.all((1 - known).flatten(1).sum(1) == 36)
    x = L.to_model_range(b["image"])

    def masked(z):
        return ((known * (x - m.decode_model(z, y))) ** 2).sum().item()

    z = optimize_latents(m, b["image"], y, known, steps=30, lr=0.1, lam=0.0)
    assert masked(z) < masked(torch.zeros_like(z))
    assert all(p.requires_grad for p in m.parameters())  # restored
    res = complete(m, b["image"], y, known, steps=5)
    for v in res.values():
        assert torch.allclose(v * known, b["image"] * known)  # known pixels are kept
        assert missing_mse(v, b["image"], known).shape == (4,)


# ----------------------------------------------------------------------------- CLI


# scenes at 16 px and a net to match (the profile's nets are for 32 px)
TINY = ["data.scenes.num_train=320", "data.scenes.num_test=64", "data.batch_size=32", "data.image_size=16",
        "model.widths=[8,16]", "model.feat_dim=16"]


@pytest.mark.parametrize("name", ["cvae", "discvae"])
def test_training_smoke_run_and_complete_cli(tmp_path, name):
    r = in_process("fit", *small(name, *TINY, f"run.dir={tmp_path}", "run.name=r"))
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path / "r"
    final = json.loads((d / "final_metrics.json").read_text())
    assert "val/loss" in final
    pictures = ["attr_shape", "attr_colour", "attr_recon"] + (["bg_swap", "fg_swap", "layers"] if name == "discvae" else [])
    for p in pictures:
        assert (d / "images" / f"{p}.png").is_file(), p
    if name == "discvae":
        assert 0 <= final["val/gate_iou"] <= 1
    judged = ["--attributes", "--per-value", "4", "--judge-blur", "1.0", "--classifier-epochs", "1",
              "--judge-arch", "domain", "resnet", "--judge-seeds", "0", "1"] if name == "cvae" else []
    r = in_process("complete", "--ckpt", d / "checkpoints" / "last.ckpt", "--n", "8", "--steps", "3", "--hole", "6",
                   "--images", tmp_path / "img", *judged)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert set(out["completion_mse"]) >= {"optimized_from_zero", "optimized_from_encoder", "encoder"}
    assert (tmp_path / "img" / "completion.png").is_file()
    if name == "discvae":
        assert 0 <= out["gate_iou"] <= 1
    else:  # both judges (plain, blur-trained) report every shape and colour, each with its blur check
        for res in (out, out["blur_trained_judge"]):
            acc = res["attribute_accuracy"]
            assert set(acc) == {"shape", "colour"} and set(acc["shape"]["per_value"]) == set(R.SHAPES)
            assert all(0 <= v <= 1 for g in acc.values() for v in g["per_value"].values())
            assert set(res["judge_on_blurred_real"]["shape"]) == {"0.5", "0.8"}
        assert 0 <= out["swap_accuracy"]["shape"]["accuracy"] <= 1
        # every architecture times every seed grades the same samples; the first is the headline judge
        assert [(j["arch"], j["seed"]) for j in out["judges"]] == [("domain", 0), ("domain", 1), ("resnet", 0), ("resnet", 1)]
        assert out["judges"][0]["groups"] == out["attribute_accuracy"]
        for g in ("shape", "colour"):
            assert out["judges_min"][g] == min(j["groups"][g]["accuracy"] for j in out["judges"])


def test_complete_cli_one_line_errors(tmp_path, capsys):
    from lit_gen.complete import main

    assert main(["--ckpt", str(tmp_path / "nope.ckpt")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "no such file" in err
    assert main(["--ckpt", str(tmp_path / "nope.ckpt"), "--judge-blur", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--judge-blur -1.0" in err
    assert main(["--ckpt", str(tmp_path / "nope.ckpt"), "--judge-arch", "vit"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--judge-arch vit" in err and "resnet" in err
    (tmp_path / "bad.ckpt").write_text("not a checkpoint")
    assert main(["--ckpt", str(tmp_path / "bad.ckpt")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


# ----------------------------------------------------------------------------- evaluation


class _StubModel(torch.nn.Module):
    """Renders the shape index as the image's brightness, read from y or (reads_z) from z = the source's y."""

    def __init__(self, reads_z: bool):
        super().__init__()
        from lit_gen.models.cvae.condition import Conditioner

        self.cond, self.reads_z = Conditioner(SCENES, "attributes"), reads_z
        self.data, self.condition = SCENES, "attributes"

    def posterior_mean(self, x01, y, mask=None):
        return y.clone()

    def generate(self, z, y):
        lo, hi = self.cond.groups["shape"]
        v = (z if self.reads_z else y)[:, lo:hi].argmax(1).float()
        return (v / 10)[:, None, None, None].expand(-1, 3, 16, 16)


class _BrightnessJudge(torch.nn.Module):
    def forward(self, x):
        v = (x.mean((1, 2, 3)) * 10).round().long()
        return torch.nn.functional.one_hot(v, 5).float()


@pytest.mark.parametrize("reads_z", [False, True])
def test_swap_accuracy_tells_whether_the_decoder_reads_y_or_z(reads_z):
    from lit_gen.models.cvae.evaluation import swap_accuracy

    f = R.sample_factors(30, torch.Generator().manual_seed(3))
    ds = [{"image": torch.zeros(3, 16, 16), "attributes": a, "label": s} for a, s in zip(R.attributes(f), f["shape"])]
    model = _StubModel(reads_z)
    model.device = torch.device("cpu")
    res = swap_accuracy(model, {"shape": (_BrightnessJudge(), 1.0)}, ds, n=30, batch=7)["shape"]
    if reads_z:  # the decoder ignores y: only the source's own value is hit (1 in 5), and it is always kept
        assert res["accuracy"] == pytest.approx(0.2) and res["kept_source"] == 1.0
    else:
        assert res["accuracy"] == 1.0 and res["kept_source"] == 0.0


def test_judge_blur_check_reports_per_value_accuracy_on_blurred_real_images():
    from lit_gen.models.cvae.evaluation import judge_blur_check

    # items of brightness v/10 for shape v: a brightness judge survives any blur of a flat image, so every value
    # is right; a judge that reads the centre pixel's contrast with its neighbour fails once blurred
    f = R.sample_factors(20, torch.Generator().manual_seed(4))
    ds = [{"image": torch.full((3, 16, 16), float(s) / 10), "attributes": a} for a, s in zip(R.attributes(f), f["shape"])]
    model = _StubModel(False)
    out = judge_blur_check({"shape": (_BrightnessJudge(), 1.0)}, ds, model, sigmas=(0.8,), batch=6)["shape"]["0.8"]
    present = {R.SHAPES[s] for s in f["shape"].tolist()}
    assert {k for k, v in out.items() if v is not None} == present and all(out[k] == 1.0 for k in present)

    class EdgeJudge(torch.nn.Module):  # box (0) if a one-pixel dot is still sharp, else cylinder (2)
        def forward(self, x):
            sharp = (x[:, 0, 8, 8] - x[:, 0, 8, 9]).abs() > 0.5
            return torch.nn.functional.one_hot(torch.where(sharp, 0, 2), 5).float()

    dots = []
    for a in R.attributes(f):
        img = torch.zeros(3, 16, 16)
        img[:, 8, 8] = 1.0
        dots.append({"image": img, "attributes": model.cond.set_value(a[None], "shape", 0)[0]})
    assert judge_blur_check({"shape": (EdgeJudge(), 1.0)}, dots, model, sigmas=(0.8,))["shape"]["0.8"]["box"] == 0.0
    assert judge_blur_check({"shape": (EdgeJudge(), 1.0)}, dots, model, sigmas=(0.1,))["shape"]["0.1"]["box"] == 1.0


@pytest.mark.parametrize("size", [16, 32, 64])
def test_residual_judge_reads_any_size_and_differs_from_the_domain_classifier(size):
    from types import SimpleNamespace

    from lit_gen.metrics.feature_net import DomainNet
    from lit_gen.metrics.judges import ResidualJudge, judge_factory

    info = SimpleNamespace(channels=3, image_size=size, num_classes=5)
    assert judge_factory("domain") is None  # train_domain_net's own DomainNet
    net = judge_factory("resnet")(info)
    assert isinstance(net, ResidualJudge) and not isinstance(net, DomainNet)
    assert net(torch.rand(2, 3, size, size)).shape == (2, 5)
    # no BatchNorm: its statistics cannot make a judge's verdict depend on what else is in the batch
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    net.eval()
    x = torch.rand(4, 3, size, size)
    assert torch.allclose(net(x)[:1], net(x[:1]), atol=1e-5)
