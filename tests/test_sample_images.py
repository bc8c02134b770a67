"""``python -m lit_gen.sample`` and ``python -m lit_gen.evaluate --images``: a checkpoint's samples, written as
image files and scored from them, score as ``evaluate --ckpt`` scores the checkpoint (in-process CLIs)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import DATA, REPO, in_process
from test_evaluate import tiny_run  # noqa: F401 - the same tiny checkpoint, a fixture

N = 300  # tiny_run's metrics.num_samples: what evaluate --ckpt scores
# The 8-bit rounding alone, measured on this checkpoint for seeds 0-5 (evaluate --ckpt seed=S against sample --seed
# S as npz): FID 1.0e-4 to 1.6e-4 relative, KID 1.0e-4 to 1.2e-4, IS under 1e-6, blur 4.5e-4 to 8.5e-4. The
# tolerances are three times the largest; a seed moves FID by ~1% (543 to 568). That the samples are the same is
# checked pixel by pixel: this tiny model's samples barely differ, so other samples against the same real images
# score within a few 1e-4 too.
SCORE_REL = 5e-4
BLUR_REL = 3e-3


def _scores(r):
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def round_trip(tiny_run, tmp_path_factory):  # noqa: F811 - pytest's fixture by name
    """evaluate --ckpt (recording the samples it scores), then sample as PNG and as npz, then evaluate --images on
    each: PNG with --data and overrides, npz with the run's config.yaml."""
    from lit_gen.models.vae.module import VAE

    tmp = tmp_path_factory.mktemp("sample_images")
    ckpt = tiny_run["dir"] / "checkpoints" / "last.ckpt"
    drawn, original = [], VAE.sample

    def recording(self, n, generator=None):
        drawn.append(original(self, n, generator=generator))
        return drawn[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(VAE, "sample", recording)
        # the samples sample writes are the decoder's mean: the draws from p(x|z) are not part of this round trip
        by_ckpt = _scores(in_process("evaluate", "--ckpt", ckpt, "metrics.nll_k=0", "metrics.draws=false",
                                     "--no-progress"))
    png, npz = tmp / "png", tmp / "npz"
    sampled = in_process("sample", "--ckpt", ckpt, "--n", N + 20, "--out", png, "--no-progress")
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    r = in_process("sample", "--ckpt", ckpt, "--n", N, "--out", npz, "--format", "npz", "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    # what tiny_run's config (configs/vae_mnist.yaml and its overrides) sets for the data and the metrics
    like_the_run = [f"data.root={DATA}", "data.image_size=28", f"metrics.num_samples={N}",
                    "metrics.domain_max_train=2000", "metrics.kid_subsets=5", f"metrics.cache_dir={tiny_run['cache']}"]
    by_png = _scores(in_process("evaluate", "--images", png, "--data", "binarized_mnist", *like_the_run,
                                "--no-progress"))
    by_npz = _scores(in_process("evaluate", "--images", npz / "samples.npz", "--config",
                                tiny_run["dir"] / "config.yaml", "--no-progress"))
    return {"ckpt": by_ckpt, "png": by_png, "npz": by_npz, "drawn": torch.cat(drawn), "png_dir": png,
            "npz_dir": npz, "sampled": sampled}


def test_sample_writes_the_samples_evaluate_scores(round_trip):
    png = round_trip["png_dir"]
    files = sorted(png.glob("*.png"))
    assert len(files) == N + 20 and [f.name for f in files[:2]] == ["000000.png", "000001.png"]
    assert f"wrote {N + 20} samples to {png}" in round_trip["sampled"].stdout
    assert Image.open(files[0]).mode == "L"
    images = np.stack([np.asarray(Image.open(f)) for f in files[:N]])
    drawn = round_trip["drawn"]
    assert drawn.shape == (N, 1, 28, 28) and images.shape == (N, 28, 28)
    # a pixel is round(255 x): within half a step of the sample evaluate --ckpt scored, in the same order
    assert (torch.from_numpy(images).float() / 255 - drawn[:, 0]).abs().max() <= 0.5 / 255 + 1e-6
    with np.load(round_trip["npz_dir"] / "samples.npz") as z:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (N, 28, 28, 1)
        assert np.array_equal(z["images"][..., 0], images)


def _test_keys(scores):
    return {k for k in scores if k.startswith("test/")}


def test_images_score_as_the_checkpoint(round_trip):
    ckpt, png = round_trip["ckpt"], round_trip["png"]
    assert _test_keys(png) == {k for k in _test_keys(ckpt) if "recon" not in k}  # no encoder behind files
    assert {"test/fid_domain", "test/kid_domain", "test/is_domain", "test/blur", "test/blur_ratio"} <= _test_keys(png)
    assert png["images_found"] == N + 20 and png["test/fid_domain_n"] == png["test/fid_domain_n_real"] == N
    assert png["test/blur_real"] == ckpt["test/blur_real"] and png["features_id"] == ckpt["features_id"]
    for key in ("test/fid_domain", "test/kid_domain", "test/is_domain"):
        assert png[key] == pytest.approx(ckpt[key], rel=SCORE_REL), key
    for key in ("test/blur", "test/blur_ratio"):
        assert png[key] == pytest.approx(ckpt[key], rel=BLUR_REL), key
    assert json.loads((round_trip["png_dir"] / "eval.json").read_text()) == png


def test_npz_and_png_score_the_same(round_trip):
    png, npz = round_trip["png"], round_trip["npz"]
    assert {k: png[k] for k in _test_keys(png)} == {k: npz[k] for k in _test_keys(npz)}
    assert json.loads((round_trip["npz_dir"] / "eval.json").read_text()) == npz


def test_overwrite_replaces_the_samples_there(tiny_run, tmp_path):  # noqa: F811 - pytest's fixture by name
    for i in range(10):
        (tmp_path / f"{i:06d}.png").write_bytes(b"old")
    (tmp_path / "samples.npz").write_bytes(b"old")
    ckpt = tiny_run["dir"] / "checkpoints" / "last.ckpt"
    r = in_process("sample", "--ckpt", ckpt, "--n", 3, "--out", tmp_path, "--overwrite", "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000.png", "000001.png", "000002.png"]


# --------------------------------------------------------------------------- bad input: exit 2, one line

# 10 grey 8x8 images, 5 of them the test split
FOLDER_DATA = ["--data", "folder", "data.root={tmp}/data", "data.image_size=8", "data.channels=1",
               "data.val_fraction=0.5"]
# id: (module and argv, substrings the error line must contain); {tmp} is the fixture's folder
BAD = {
    "sample_n_0": (["sample", "--ckpt", "{tmp}/toy.ckpt", "--n", "0", "--out", "{tmp}/out"], ["--n 0", ">= 1"]),
    "sample_out_is_a_file": (["sample", "--ckpt", "{tmp}/toy.ckpt", "--n", "4", "--out", "{tmp}/a_file.txt"],
                             ["--out {tmp}/a_file.txt", "existing file"]),
    "sample_out_holds_samples": (["sample", "--ckpt", "{tmp}/toy.ckpt", "--n", "4", "--out", "{tmp}/data"],
                                 ["--out {tmp}/data", "already holds 10 sample file(s)", "--overwrite"]),
    "sample_vector_model": (["sample", "--ckpt", "{tmp}/toy.ckpt", "--n", "4", "--out", "{tmp}/out"],
                            ["--ckpt {tmp}/toy.ckpt", "data.name=ring8", "not images"]),
    "images_missing": (["evaluate", "--images", "{tmp}/nowhere", *FOLDER_DATA],
                       ["--images {tmp}/nowhere", "no such file or folder"]),
    "images_empty": (["evaluate", "--images", "{tmp}/empty", *FOLDER_DATA], ["--images {tmp}/empty", "no PNG/JPEG"]),
    "images_wrong_size": (["evaluate", "--images", "{tmp}/big", *FOLDER_DATA],
                          ["{tmp}/big/000000.png", "16x16 pixels", "expected 8x8 grey images", "data.image_size=8"]),
    "images_colour_for_grey": (["evaluate", "--images", "{tmp}/colour", *FOLDER_DATA],
                               ["{tmp}/colour/000000.png", "colour image", "expected 8x8 grey images"]),
    "images_grey_for_colour": (["evaluate", "--images", "{tmp}/data", *FOLDER_DATA, "data.channels=3"],
                               ["{tmp}/data/000000.png", "grey image", "expected 8x8 RGB images"]),
    "images_unreadable": (["evaluate", "--images", "{tmp}/broken", *FOLDER_DATA],
                          ["{tmp}/broken/000001.png", "not a readable image"]),
    "npz_without_images": (["evaluate", "--images", "{tmp}/no_key.npz", *FOLDER_DATA],
                           ["--images {tmp}/no_key.npz", "no 'images' array", "expected uint8"]),
    "npz_wrong_dtype": (["evaluate", "--images", "{tmp}/float.npz", *FOLDER_DATA],
                        ["--images {tmp}/float.npz", "float32 of shape (4, 8, 8, 1)",
                         "expected uint8 (N>=1, 8, 8, 1)"]),
    "npz_unreadable": (["evaluate", "--images", "{tmp}/bad.npz", *FOLDER_DATA],
                       ["--images {tmp}/bad.npz", "not a readable .npz"]),
    "images_toy_data": (["evaluate", "--images", "{tmp}/data", "--data", "ring8"], ["data.name=ring8", "not images"]),
    "images_without_data": (["evaluate", "--images", "{tmp}/data"], ["--images needs --data"]),
    "images_and_ckpt": (["evaluate", "--images", "{tmp}/data", "--ckpt", "{tmp}/toy.ckpt"], ["not allowed with"]),
}


def _grey(size, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8))


def _toy_checkpoint(path):
    """An untrained VAE of the ring of 8 Gaussians (vector data), saved as fit saves its checkpoints."""
    from lit_gen.config import config_to_yaml, load_config
    from lit_gen.data.datamodule import GenerativeDataModule
    from lit_gen.registry import build_model

    cfg = load_config(str(REPO / "configs" / "vae_ring8.yaml"), ["data.toy.num_train=256", "data.toy.num_test=64"])
    dm = GenerativeDataModule(cfg.data)
    dm.setup("test")
    torch.save({"lit_gen": {"config": config_to_yaml(cfg), "model": "vae"},
                "state_dict": build_model(cfg, dm.spec()).state_dict()}, path)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sample_images_bad")
    for name in ("data", "empty", "big", "colour", "broken"):
        (tmp / name).mkdir()
    for i in range(10):  # 8x8 grey: the folder data set the images are scored against, and samples in a folder
        _grey(8, i).save(tmp / "data" / f"{i:06d}.png")
    _grey(16).save(tmp / "big" / "000000.png")
    colour = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(colour).save(tmp / "colour" / "000000.png")
    _grey(8).save(tmp / "broken" / "000000.png")
    (tmp / "broken" / "000001.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    np.savez(tmp / "no_key.npz", arr_0=np.zeros((4, 8, 8, 1), np.uint8))
    np.savez(tmp / "float.npz", images=np.zeros((4, 8, 8, 1), np.float32))
    (tmp / "bad.npz").write_bytes(b"PK\x03\x04 cut short")
    (tmp / "a_file.txt").write_text("not a folder")
    _toy_checkpoint(tmp / "toy.ckpt")
    return tmp


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_exit_2_and_one_line_naming_it(bad_inputs, name):
    argv, parts = BAD[name]
    r = in_process(*[a.replace("{tmp}", str(bad_inputs)) for a in argv])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and r.stdout == ""
    for part in parts:
        assert part.replace("{tmp}", str(bad_inputs)) in lines[0], lines[0]


def test_sample_draws_in_measures_batches():
    """sample's default batch keeps its own copy of measure()'s (its --help imports no torch); they must agree."""
    from lit_gen import sample
    from lit_gen.metrics import sample_quality

    assert sample.MEASURE_BATCH == sample_quality.MEASURE_BATCH
