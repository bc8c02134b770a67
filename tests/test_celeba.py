"""CelebA (lit_gen/data/sources/celeba.py): a few images and the two annotation files in the real layout, read
through the datamodule (missing files, the CLI and a tiny Attribute2Image run: tests/test_sources_registry.py)."""

from __future__ import annotations

import numpy as np
import torch
from test_cifar10 import built

NAMES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
         "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
         "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
         "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
         "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


def write_celeba(root, counts=(6, 2, 2)):
    """``counts`` aligned 178 x 218 JPEGs per split (train, val, test) with their attribute and partition lines."""
    from PIL import Image

    base = root / "celeba"
    images = base / "img_align_celeba"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    attr, part = [], []
    n = 0
    for split, count in enumerate(counts):
        for _ in range(count):
            n += 1
            name = f"{n:06d}.jpg"
            a = np.zeros((218, 178, 3), np.uint8)
            a[:, :89] = (200, 40, 40)  # left half red, right half blue: the crop keeps both
            a[:, 89:] = (40, 40, 200)
            Image.fromarray(a).save(images / name, quality=95)
            values = rng.choice(["1", "-1"], len(NAMES))
            attr.append(f"{name} " + " ".join(f"{v:>2}" for v in values))
            part.append(f"{name} {split}")
    (base / "list_attr_celeba.txt").write_text(f"{n}\n" + " ".join(NAMES) + "\n" + "\n".join(attr) + "\n")
    (base / "list_eval_partition.txt").write_text("\n".join(part) + "\n")
    return base


def test_the_images_and_attributes_read_through_the_datamodule(tmp_path):
    base = write_celeba(tmp_path)
    dm = built("celeba", tmp_path, "data.channels=3", "data.image_size=16")
    assert (len(dm.splits.train), len(dm.splits.val), len(dm.splits.test)) == (6, 2, 2)
    info = dm.info
    assert info.keys == {"image", "attributes"} and info.attribute_names == tuple(NAMES)
    item = dm.splits.train[1]
    assert item["image"].shape == (3, 16, 16)
    left, right = item["image"][:, :, :4].mean((1, 2)), item["image"][:, :, -4:].mean((1, 2))
    assert left[0] > 0.6 > left[2] and right[2] > 0.6 > right[0]  # centre-cropped, not squeezed
    line = (base / "list_attr_celeba.txt").read_text().splitlines()[3]  # the second image
    want = torch.tensor([1.0 if v == "1" else 0.0 for v in line.split()[1:]])
    assert torch.equal(item["attributes"], want)
    batch = next(iter(dm.train_dataloader()))
    assert batch["attributes"].shape[1] == 40 and set(batch["attributes"].unique().tolist()) <= {0.0, 1.0}


def test_max_items_and_grey(tmp_path):
    write_celeba(tmp_path)
    dm = built("celeba", tmp_path, "data.image_size=8", "data.celeba.max_items=3", "data.celeba.crop=100")
    assert len(dm.splits.train) == 3 and dm.splits.train[0]["image"].shape == (1, 8, 8)
