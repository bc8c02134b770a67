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


class Needy:
    needs = ("image", "factors")


def test_model_needs_are_checked_against_the_source():
    info = SourceInfo(name="mnist", channels=1, image_size=28, keys=frozenset({"image", "label"}))
    check_needs("vae", info)  # the VAE needs only images

    from lit_gen import registry

    registry.MODELS["needy"] = registry.ModelSpec(object, f"{__name__}:Needy", "needy")
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


def test_batched_fetch_equals_item_fetch():
    """__getitems__ (one indexing per key) gives the loader exactly the batch that item-by-item fetching gives."""
    import torch

    from lit_gen.data.sources.base import TensorDictDataset, collate_items
    from lit_gen.data.sources.binarized_mnist import DynamicBinarizedDataset

    g = torch.Generator().manual_seed(0)
    grey = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8, generator=g)
    ds = TensorDictDataset({"image": grey.expand(-1, 3, -1, -1), "label": torch.arange(12),
                            "mask": torch.rand(12, 1, 8, 8, generator=g)})
    idx = [7, 0, 3, 11]
    items = ds.__getitems__(idx)
    ref = torch.utils.data.default_collate([ds[i] for i in idx])
    got = torch.utils.data.default_collate(items)
    passed = collate_items(items)  # the loaders' collate hands the whole batch on instead of re-stacking the views
    # any other collate_fn sees the per-item dicts, as from item-by-item fetching
    assert len(items) == len(idx) and [int(it["label"]) for it in items] == idx
    assert all(torch.equal(items[j][k], ds[i][k]) for j, i in enumerate(idx) for k in ref)
    assert passed is items.batch and collate_items([ds[i] for i in idx]).keys() == ref.keys()
    for batch in (got, passed):
        assert batch.keys() == ref.keys()
        for k in ref:
            assert batch[k].dtype == ref[k].dtype and torch.equal(batch[k], ref[k]), k
    # the dynamic binarization draws once per batch: values in {0, 1}, labels follow the indices, reproducible
    dyn = DynamicBinarizedDataset(grey, torch.arange(12))
    torch.manual_seed(1)
    a = torch.utils.data.default_collate(dyn.__getitems__(idx))
    torch.manual_seed(1)
    b = torch.utils.data.default_collate(dyn.__getitems__(idx))
    assert torch.equal(a["image"], b["image"]) and set(a["image"].unique().tolist()) <= {0.0, 1.0}
    assert a["label"].tolist() == idx
    # all-black and all-white pixels are deterministic under Bernoulli: the draw follows the right images
    assert torch.equal(a["image"][grey[idx] == 0], torch.zeros_like(a["image"][grey[idx] == 0]))
    assert torch.equal(a["image"][grey[idx] == 255], torch.ones_like(a["image"][grey[idx] == 255]))
