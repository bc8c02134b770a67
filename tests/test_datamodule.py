"""The shared DataModule: loaders, model needs, image conforming."""

import pytest
import torch

from lit_gen.config import load_config
from lit_gen.data.datamodule import GenerativeDataModule
from lit_gen.data.sources.base import SourceInfo, conform_images
from lit_gen.errors import UserError
from lit_gen.registry import check_needs


def test_conform_images_grey_rgb_and_size():
    x = (torch.rand(2, 1, 28, 28) * 255).to(torch.uint8)
    y = conform_images(x, channels=3, size=32)
    assert y.shape == (2, 3, 32, 32) and y.dtype == torch.uint8
    assert torch.equal(y[:, 0], y[:, 1])
    z = conform_images(torch.rand(2, 3, 20, 28), channels=1, size=16)
    assert z.shape == (2, 1, 16, 16)
    same = torch.rand(2, 1, 8, 8)
    assert torch.equal(conform_images(same, 1, 8), same)


def test_model_needs_are_checked_against_the_source():
    info = SourceInfo(name="mnist", channels=1, image_size=28, keys=frozenset({"image", "label"}))
    check_needs("vae", info)  # the VAE needs only images

    class Needy:
        needs = ("image", "factors")

    from lit_gen import registry

    registry.MODELS["needy"] = registry.ModelSpec(Needy, object, "needy")
    try:
        with pytest.raises(UserError, match="needs factors.*data.name=mnist"):
            check_needs("needy", info)
    finally:
        del registry.MODELS["needy"]


def test_scenes_datamodule_batches_and_pixel_mean():
    cfg = load_config("configs/vae.yaml", ["data.scenes.num_train=200", "data.scenes.num_test=40", "data.batch_size=16"])
    dm = GenerativeDataModule(cfg.data)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (16, 1, 32, 32) and batch["image"].dtype == torch.float32
    assert 0 <= batch["image"].min() and batch["image"].max() <= 1
    assert len(dm.splits.train) + len(dm.splits.val) == 200 and len(dm.splits.test) == 40
    mean = dm.pixel_mean()
    assert mean.shape == (1, 32, 32) and 0 < mean.mean() < 1
    fixed = dm.fixed_batch(8)
    assert torch.equal(fixed["image"], dm.fixed_batch(8)["image"])
