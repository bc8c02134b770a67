"""Every user mistake, through the CLIs: exit code != 0, one line on stderr starting with ``error:`` that names
the key, path or value, and no traceback. Every row runs in-process (the CLIs' ``main``); a few, for fit,
evaluate, sweep and compare, fit's and evaluate's failing after the heavy imports, also run as real ``python -m``
processes (started ahead, in the background), for what only a real process shows: its exit status and all it
prints."""

import os
import warnings

import numpy as np
import pytest
import torch

from helpers import REPO, ahead, in_process, process_env, python_m, scratch, small_overrides

OVERRIDES = small_overrides("vae", "logger.name=none")
FIT = ["lit_gen.fit", "--config", "configs/vae.yaml", *OVERRIDES]

# id: (argv after `python -m`, substrings the error line must contain); {tmp} is the test's folder
ROWS = {
    "unknown_key": (FIT + ["model.bogus_key=1"], ["model.bogus_key"]),
    "batch_size_0": (FIT + ["data.batch_size=0"], ["data.batch_size=0"]),
    "image_size_30_conv": (FIT + ["data.image_size=30"], ["image_size", "30"]),
    "negative_lr": (FIT + ["optim.lr=-1"], ["optim.lr=-1"]),
    "half_shade_0": (FIT + ["data.scenes.half_shade=0"], ["data.scenes.half_shade=0", "(0, 1]"]),
    "cosine_no_period": (["lit_gen.fit", "--config", "configs/dcign.yaml", "optim.scheduler=cosine"],
                         ["optim.scheduler=cosine", "optim.cosine_epochs"]),
    "wrong_type": (FIT + ["model.latent_dim=abc"], ["model.latent_dim", "abc"]),
    "unknown_model": (FIT + ["model.name=nosuchmodel"], ["model.name='nosuchmodel'"]),
    "unknown_data": (FIT + ["data.name=nosuchdata"], ["data.name='nosuchdata'"]),
    "missing_data_folder": (FIT + ["data.name=mnist", "data.root=/nonexistent/lit_gen"], ["/nonexistent/lit_gen"]),
    "empty_image_folder": (FIT + ["data.name=folder", "data.root={tmp}/empty"], ["data.root=", "empty", "no image"]),
    "missing_checkpoint": (FIT + ["ckpt_path=/nope.ckpt", "run.dir={tmp}/runs"], ["ckpt_path=/nope.ckpt"]),
    "corrupt_checkpoint_fit": (FIT + ["ckpt_path={tmp}/bad/checkpoints/last.ckpt"], ["{tmp}/bad/checkpoints/last.ckpt"]),
    "resume_below_max_epochs": (FIT + ["ckpt_path={tmp}/late/checkpoints/last.ckpt"],
                                ["trainer.max_epochs=1", "{tmp}/late/checkpoints/last.ckpt", "at epoch 5"]),
    "corrupt_checkpoint_evaluate": (["lit_gen.evaluate", "--ckpt", "{tmp}/bad/checkpoints/last.ckpt"],
                                    ["--ckpt {tmp}/bad/checkpoints/last.ckpt"]),
    "foreign_checkpoint_evaluate": (["lit_gen.evaluate", "--ckpt", "{tmp}/foreign.ckpt"],
                                    ["{tmp}/foreign.ckpt", "not a lit_gen checkpoint"]),
    "other_model_checkpoint_evaluate": (["lit_gen.evaluate", "--ckpt", "{tmp}/other_model.ckpt"],
                                        ["{tmp}/other_model.ckpt", "do not fit model.name=vae"]),
    "missing_checkpoint_disentangle": (["lit_gen.disentangle", "--ckpt", "{tmp}/missing.ckpt"],
                                       ["--ckpt {tmp}/missing.ckpt", "no such file"]),
    "invalid_sweep_file": (["lit_gen.sweep", "{tmp}/sweep.yaml", "--count", "1", "--out", "{tmp}/sweep_out"],
                           ["{tmp}/sweep.yaml"]),
    "not_a_run_folder_compare": (["lit_gen.compare", "{tmp}/empty", "--out", "{tmp}/report"],
                                 ["{tmp}/empty", "not a lit_gen run folder"]),
    "devices_more_than_available": (FIT + ["trainer.accelerator=cpu", f"trainer.devices={(os.cpu_count() or 1) + 62}",
                                           "run.dir={tmp}/runs"], ["trainer.devices=", "more than available"]),
    "config_not_yaml": (["lit_gen.fit", "--config", "{tmp}/not_yaml.yaml"], ["--config {tmp}/not_yaml.yaml", "YAML"]),
}
# fit's fails after Lightning is imported, evaluate's after torch: what those imports print counts
IN_A_REAL_PROCESS = ["devices_more_than_available", "corrupt_checkpoint_evaluate", "invalid_sweep_file",
                     "not_a_run_folder_compare"]
NO_DATA = "/nonexistent"  # no test may find real data by the default root


def _make_files(tmp):
    """The inputs that need no lit_gen or torch (the background job makes these: no imports beside the tests)."""
    (tmp / "empty").mkdir()
    (tmp / "bad" / "checkpoints").mkdir(parents=True)
    # garbage that starts like a pickle of an unknown protocol (torch warns, then fails): one line all the same
    (tmp / "bad" / "checkpoints" / "last.ckpt").write_bytes(b"\x80\x82" + os.urandom(254))
    (tmp / "sweep.yaml").write_text("method: sideways\nparameters:\n  optim.lr: {values: [0.1]}\n")
    (tmp / "not_yaml.yaml").write_text("model: [vae\n  : : {\n")


def _make_inputs(tmp):
    _make_files(tmp)
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp / "foreign.ckpt")
    from lit_gen.config import config_to_yaml, load_config

    vae_yaml = config_to_yaml(load_config(str(REPO / "configs" / "vae.yaml"), OVERRIDES))
    # a lit_gen checkpoint whose weights belong to another model (a GAN's) but claim the VAE's config
    torch.save({"lit_gen": {"config": vae_yaml, "model": "vae"},
                "state_dict": {"generator.net.0.weight": torch.zeros(16, 8, 4, 4)}}, tmp / "other_model.ckpt")
    (tmp / "late" / "checkpoints").mkdir(parents=True)  # a run at epoch 5, resumed with trainer.max_epochs=1
    torch.save({"lit_gen": {"config": vae_yaml, "model": "vae"}, "state_dict": {}, "epoch": 5, "global_step": 50},
               tmp / "late" / "checkpoints" / "last.ckpt")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_input")
    _make_inputs(tmp)
    return tmp


def _argv(name, tmp):
    return [a.replace("{tmp}", str(tmp)) for a in ROWS[name][0]]


def _check_one_line_naming_the_culprit(name, r, tmp):
    lines = r.stderr.strip().splitlines()
    shown = f"rc={r.returncode}\nstderr:\n{r.stderr[-2000:]}"
    assert r.returncode != 0, shown
    assert "Traceback" not in r.stderr + r.stdout, shown
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for part in ROWS[name][1]:
        assert part.replace("{tmp}", str(tmp)) in lines[0], shown
    if name == "corrupt_checkpoint_fit":  # nothing was written into the run folder of the refused checkpoint
        assert sorted(p.name for p in (tmp / "bad").iterdir()) == ["checkpoints"]


@pytest.mark.parametrize("name", list(ROWS))
def test_bad_input_is_one_line_naming_the_culprit(inputs, name, monkeypatch):
    monkeypatch.setenv("LIT_GEN_DATA", NO_DATA)
    module, *args = _argv(name, inputs)
    _check_one_line_naming_the_culprit(name, in_process(module.removeprefix("lit_gen."), *args), inputs)


def real_processes():
    tmp = scratch("bad_input")
    _make_files(tmp)
    env = process_env(LIT_GEN_DATA=NO_DATA)
    return tmp, {name: python_m(*_argv(name, tmp), env=env, timeout=180) for name in IN_A_REAL_PROCESS}


@pytest.mark.ahead(job=real_processes)
@pytest.mark.parametrize("name", IN_A_REAL_PROCESS)
def test_a_real_process_prints_just_the_line(name):
    tmp, ran = ahead(real_processes)
    r = ran[name]
    assert r.returncode == 2, r.stderr[-2000:]
    _check_one_line_naming_the_culprit(name, r, tmp)


def test_corrupt_image_among_good_ones_is_skipped_with_a_counting_warning(tmp_path):
    """The documented choice (lit_gen.data.sources.folder): unreadable images are skipped, with one warning that
    counts them; the run goes on with the good ones."""
    from PIL import Image

    from lit_gen.config import load_config
    from lit_gen.data.sources import DATASETS

    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(tmp_path / f"ok{i}.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    cfg = load_config(str(REPO / "configs" / "vae.yaml"), OVERRIDES + ["data.name=folder", f"data.root={tmp_path}"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = DATASETS["folder"](cfg.data)
    msgs = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert len(msgs) == 1 and "skipped 1 of 7 image files" in msgs[0] and "broken.png" in msgs[0], msgs
    assert len(splits.train) + len(splits.val) == 6  # the good ones are kept (folder data: test = val)
