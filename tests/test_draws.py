"""The VAE family's two kinds of samples: ``sample`` shows the decoder's mean, ``sample_draw`` a draw from p(x|z) on
the same z; both are scored (``<stage>/...`` and ``<stage>/draw/...``) and drawn (``samples.png``,
``samples_draw.png``)."""

import json

import torch

from helpers import in_process, small


def test_bernoulli_draws_are_binary_on_the_same_z_as_the_mean(tmp_path):
    from lit_gen.checkpoints import load_model

    assert in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=v")).returncode == 0
    model, _, _, _ = load_model(str(tmp_path / "v" / "checkpoints" / "last.ckpt"))
    g = torch.Generator().manual_seed(3)
    mean = model.sample(4, generator=g)  # z is the generator's first draw
    expected = (torch.rand(mean.shape, generator=g) < mean).float()  # then one uniform per pixel
    draws = model.sample_draw(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(draws, expected)
    assert set(draws.unique().tolist()) <= {0.0, 1.0} and 0 < draws.mean() < 1


def test_fit_scores_and_draws_both_and_the_gan_has_no_draws(tmp_path):
    assert in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=v")).returncode == 0
    m = json.loads((tmp_path / "v" / "final_metrics.json").read_text())
    assert {"test/blur_ratio", "test/draw/blur_ratio", "test/draw/blur", "val/draw/blur_ratio"} <= set(m)
    assert "test/draw/blur_real" not in m and "test/draw/blur_ratio_recon" not in m  # not sample-side values
    assert m["test/draw/blur"] != m["test/blur"]
    assert (tmp_path / "v" / "images" / "samples_draw.png").is_file()

    assert in_process("fit", *small("vae", f"run.dir={tmp_path}", "run.name=off", "metrics.draws=false")).returncode == 0
    m = json.loads((tmp_path / "off" / "final_metrics.json").read_text())
    assert not any("/draw/" in k for k in m) and not (tmp_path / "off" / "images" / "samples_draw.png").exists()

    assert in_process("fit", *small("gan", f"run.dir={tmp_path}", "run.name=g")).returncode == 0
    m = json.loads((tmp_path / "g" / "final_metrics.json").read_text())
    assert not any("/draw/" in k for k in m)
