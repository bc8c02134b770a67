"""The CVAE-GAN variant (model.name=cvae_gan): its critic and latent adversary, its loss composition, and training
on the GAN's path (two optimizers, each network stepped in its own update). Its DDP run is in test_ddp.py."""

import pytest
import torch
import torch.nn.functional as F

from helpers import REPO, in_process, small
from lit_gen.config import load_config
from lit_gen.data.scenes import renderer as R
from lit_gen.errors import UserError
from lit_gen.models.cvae_gan import CVAEGAN, CVAEGANConfig
from lit_gen.models.cvae_gan.critic import group_cross_entropy, random_shift
from lit_gen.models.gan import losses as gan_losses
from lit_gen.models.optim import OptimConfig
from lit_gen.spec import DataSpec

SCENES = DataSpec(3, 16, keys=("attributes", "factors", "image", "label", "mask"), num_classes=5,
                  attribute_names=R.ATTRIBUTE_NAMES)


def _model(**kw):
    cfg = CVAEGANConfig(**{**dict(latent_dim=6, widths=[8, 16], feat_dim=16, y_hidden=8), **kw})
    torch.manual_seed(0)
    return CVAEGAN(cfg, OptimConfig(), SCENES)


def _batch(n=4, size=16):
    f = R.sample_factors(n, torch.Generator().manual_seed(1))
    img, mask = R.render(f, size, 3, "plain")
    return {"image": img, "mask": mask, "attributes": R.attributes(f), "label": f["shape"]}


def test_group_cross_entropy_sums_groups_and_averages_accuracy():
    groups = {"a": (0, 2), "b": (2, 5)}
    y = torch.tensor([[1.0, 0, 0, 0, 1], [0, 1, 1, 0, 0]])
    logits = torch.tensor([[3.0, 0, 0, 0, 2], [2.0, 0, 1, 0, 0]])  # item 0: both right; item 1: a wrong, b right
    ce, acc = group_cross_entropy(logits, y, groups)
    ref = F.cross_entropy(logits[:, :2], y[:, :2].argmax(1), reduction="none") + F.cross_entropy(
        logits[:, 2:], y[:, 2:].argmax(1), reduction="none")
    assert torch.allclose(ce, ref) and acc.tolist() == [1.0, 0.5]


def test_random_shift_moves_each_image_by_at_most_max_px_and_passes_gradients():
    x = torch.rand(6, 3, 12, 12, requires_grad=True)
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(random_shift(x, 0), x)
    moved = set()
    for i in range(6):  # the centre 8x8 of the output is the input's, moved by one (dy, dx) per image
        hits = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                if torch.equal(out[i, :, 2:10, 2:10], x[i, :, 2 + dy:10 + dy, 2 + dx:10 + dx])]
        assert len(hits) == 1
        moved.add(hits[0])
    assert len(moved) > 1  # not one shift for the whole batch
    out.sum().backward()
    assert x.grad.sum().item() == pytest.approx(6 * 3 * 12 * 12)  # every output pixel comes from one input pixel


def test_the_critic_sees_shifted_images_in_training_and_plain_ones_in_eval_mode():
    critic = _model(classifier_shift=3).critic
    x = _batch()["image"] * 2 - 1
    critic.eval()
    plain = critic(x)[0]
    critic.train()
    torch.manual_seed(3)
    assert not torch.allclose(critic(x)[0], plain)
    critic.eval()
    assert torch.allclose(critic(x)[0], plain)


def test_the_losses_are_the_cvae_plus_the_weighted_adversarial_terms():
    m, b = _model(classifier_weight=3.0, realism_weight=2.0, adversary_weight=0.5, adversary_hidden=8), _batch()
    m.eval()  # no random shifts: the same critic outputs below
    torch.manual_seed(5)
    v = m.vae_terms(b)
    torch.manual_seed(5)
    elbo, z = m.elbo_terms(b)
    x_gen, y_gen = m.prior_batch(4)
    attr, logit = m.critic(x_gen)
    cls_gen = group_cross_entropy(attr, y_gen, m.cond.groups)[0].mean()
    adv = m.adversary(z, m.y_of(b))[0].mean()
    want = elbo["loss"].mean() + 3.0 * cls_gen + 2.0 * gan_losses.ns_loss_gen(logit) - 0.5 * adv
    assert torch.allclose(v["loss"], want, rtol=1e-5)
    c = m.critic_terms(b)
    assert torch.allclose(c["loss_critic"], c["cls_real"] + c["dis"] + c["adv"])
    assert all(0 <= float(c[k]) <= 1 for k in ("cls_real_acc", "adv_acc"))
    # the critics' loss reaches neither the encoder nor the decoder (prior samples and z are drawn without grad)
    vae = [p for n, p in m.named_parameters() if n.startswith(("encoder.", "decoder."))]
    assert all(g is None for g in torch.autograd.grad(c["loss_critic"], vae, allow_unused=True))


def test_cvae_gan_trains_each_network_in_its_own_step(tmp_path):
    r = in_process("fit", *small("cvae", "model.name=cvae_gan", "model.adversary_weight=1.0", f"run.dir={tmp_path}",
                                 "run.name=r"))
    assert r.returncode == 0, r.stderr[-2000:]
    ckpt = torch.load(tmp_path / "r" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 3  # one counted step per batch: the CVAE's
    vae_state, critic_state = (s["state"] for s in ckpt["optimizer_states"])
    assert all(int(st["step"]) == 3 for st in vae_state.values())
    assert all(int(st["step"]) == 3 for st in critic_state.values())  # the critic and the adversary stepped too
    assert (tmp_path / "r" / "images" / "traversals.png").is_file()
    header = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0]
    assert "val/cls_gen_acc" in header and "train/dis_epoch" in header


def test_the_paper_configs_have_no_adversarial_options():
    for name in ("cvae", "discvae"):
        cfg = load_config(str(REPO / "configs" / f"{name}.yaml"))
        assert cfg.model.beta == 1.0 and not {"classifier_weight", "realism_weight", "adversary_weight",
                                              "classifier_shift"} & set(cfg.model)
        with pytest.raises(UserError, match="classifier_weight"):
            load_config(str(REPO / "configs" / f"{name}.yaml"), ["model.classifier_weight=1"])
    assert load_config(str(REPO / "configs" / "experiments" / "cvae_gan.yaml")).model.name == "cvae_gan"


@pytest.mark.parametrize("override,match", [("model.classifier_shift=16", r"must be in \[0, 16\) pixels"),
                                            ("model.classifier_weight=-1", "model.classifier_weight=-1"),
                                            ("model.realism_weight=-1", "model.realism_weight=-1")])
def test_bad_settings_name_the_key(override, match):
    with pytest.raises(UserError, match=match):
        load_config(str(REPO / "configs" / "experiments" / "cvae_gan.yaml"), [override])
