"""Attribute2Image evaluation: attribute accuracy of conditional samples, disCVAE gate IoU.

Attribute accuracy: for every discrete attribute group (scenes: shape, colour; MNIST: the
label) a small classifier (the domain classifier's network and training loop,
:func:`lit_gen.metrics.feature_training.train_domain_net`) is trained on the REAL training images
to predict that group's value. Then, for each value v of the group, ``n_per_value``
samples are generated with z ~ N(0, I), the other attributes from their prior and the
group set to v; the accuracy is the fraction classified as v. The classifier's own
accuracy on real held-out images is reported alongside (the ceiling of the measure).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from lit_gen.metrics.feature_net import DomainNetConfig
from lit_gen.metrics.feature_training import accuracy, train_domain_net


def _batches(ds, n: int, batch: int):
    """The first ``n`` items of ``ds``, collated ``batch`` at a time."""
    for s in range(0, min(n, len(ds)), batch):
        yield torch.utils.data.default_collate([ds[i] for i in range(s, min(s + batch, n, len(ds)))])


class GroupLabels(torch.utils.data.Dataset):
    """Items {'image', 'label'} with label = the value of one attribute group (argmax of its one-hot block)."""

    def __init__(self, ds, condition: str, lo: int, hi: int):
        self.ds, self.condition, self.lo, self.hi = ds, condition, lo, hi

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        item = self.ds[i]
        if self.condition == "label":
            label = item["label"]
        else:
            label = item["attributes"][self.lo : self.hi].argmax()
        return {"image": item["image"], "label": torch.as_tensor(label).long()}


def train_attribute_classifiers(model, splits, epochs: int = 2, max_train=None, progress: bool = False,
                                blur_augment: float = 0.0, seed: int = 0, arch: str = "domain") -> dict:
    """{group: (classifier, accuracy on real held-out images)}; ``blur_augment``: see ``train_domain_net``;
    ``seed``: of the judges' initialisation and data order; ``arch``: see :mod:`lit_gen.metrics.judges`."""
    from lit_gen.metrics.judges import judge_factory

    make_net = judge_factory(arch)
    out = {}
    info = splits.info
    for group, (lo, hi) in model.cond.groups.items():
        wrap = lambda ds: GroupLabels(ds, model.condition, lo, hi)  # noqa: E731
        sub = SimpleNamespace(train=wrap(splits.train), test=wrap(splits.test), val=wrap(splits.val),
                              info=SimpleNamespace(name=f"{info.name}:{group}", channels=info.channels,
                                                   image_size=info.image_size, num_classes=hi - lo))
        net, acc = train_domain_net(sub, DomainNetConfig(epochs=epochs, max_train=max_train, seed=seed),
                                    progress=progress, blur_augment=blur_augment, make_net=make_net)
        out[group] = (net, acc)
    return out


@torch.no_grad()
def attribute_accuracy(model, classifiers: dict, n_per_value: int = 100, seed: int = 0, batch: int = 250) -> dict:
    """{group: {'accuracy', 'per_value': {name: acc}, 'real_accuracy'}} of conditionally generated samples."""
    from lit_gen.models.cvae.condition import value_names

    model.eval()
    g = torch.Generator().manual_seed(seed)
    res = {}
    for group, (net, real_acc) in classifiers.items():
        net.eval()
        lo, hi = model.cond.groups[group]
        names = value_names(model.data, model.condition, group)
        per = {}
        for v in range(hi - lo):
            correct = 0
            for s in range(0, n_per_value, batch):
                b = min(batch, n_per_value - s)
                y = model.cond.set_value(model.cond.prior(b, g), group, v)
                imgs = model.generate(model.prior_z(b, g), y).cpu()
                correct += (net(imgs).argmax(1) == v).sum().item()
            per[names[v]] = correct / n_per_value
        res[group] = {"accuracy": sum(per.values()) / len(per), "per_value": per, "real_accuracy": real_acc}
    return res


@torch.no_grad()
def judge_blur_check(classifiers: dict, ds, model, sigmas=(0.5, 0.8), n: int = 1000, batch: int = 250) -> dict:
    """{group: {sigma: {value name: accuracy}}}: each judge on REAL held-out images blurred by a Gaussian of std sigma.

    Generated images are blurrier than real ones; this says how much of a low attribute accuracy the judge's own
    blur sensitivity could explain (scenes: slightly blurred real boxes are already read as cylinders).
    """
    from lit_gen.metrics.blur import gaussian_blur
    from lit_gen.models.cvae.condition import value_names

    res = {}
    for group, (net, _) in classifiers.items():
        net.eval()
        lo, hi = model.cond.groups[group]
        names = value_names(model.data, model.condition, group)
        res[group] = {}
        for sigma in sigmas:
            hit, count = torch.zeros(hi - lo), torch.zeros(hi - lo)
            for b in _batches(ds, n, batch):
                true = model.cond.from_batch(b)[:, lo:hi].argmax(1)
                pred = net(gaussian_blur(b["image"], sigma)).argmax(1)
                hit += torch.bincount(true[pred == true], minlength=hi - lo).float()
                count += torch.bincount(true, minlength=hi - lo).float()
            res[group][str(sigma)] = {names[v]: float(hit[v] / count[v]) if count[v] else None for v in range(hi - lo)}
    return res


@torch.no_grad()
def swap_accuracy(model, classifiers: dict, ds, n: int = 500, batch: int = 250) -> dict:
    """{group: {'accuracy', 'kept_source'}}: y-swap on real images, the test of where the decoder reads an attribute.

    Each of ``n`` held-out images is encoded (posterior mean, its own y), then decoded with the group set to every
    value v; 'accuracy' is the fraction judged v, 'kept_source' the fraction (over v != the image's own value) still
    judged the image's own value. A high 'kept_source' means z carries the attribute and the decoder prefers z to y,
    which is why prior samples then follow y badly.
    """
    model.eval()
    res = {}
    for group, (net, _) in classifiers.items():
        net.eval()
        lo, hi = model.cond.groups[group]
        hit = kept = total = other = 0
        for b in _batches(ds, n, batch):
            y = model.cond.from_batch(b)
            mask = b["mask"].float() if "mask" in b else None
            z = model.posterior_mean(b["image"].to(model.device), y.to(model.device),
                                     None if mask is None else mask.to(model.device))
            src = y[:, lo:hi].argmax(1)
            for v in range(hi - lo):
                pred = net(model.generate(z, model.cond.set_value(y, group, v)).cpu()).argmax(1)
                hit += (pred == v).sum().item()
                total += len(pred)
                changed = src != v
                kept += (pred[changed] == src[changed]).sum().item()
                other += int(changed.sum())
        res[group] = {"accuracy": hit / max(total, 1), "kept_source": kept / max(other, 1)}
    return res


@torch.no_grad()
def gate_iou(model, ds, n: int, batch: int = 250) -> float:
    """Mean per-image IoU of disCVAE's gate (g > 0.5) with the true background (1 - mask)."""

    ious = []
    for b in _batches(ds, n, batch):
        ious.append(model.gate_iou(b["image"].to(model.device), model.cond.from_batch(b).to(model.device),
                                   b["mask"].float().to(model.device)).cpu())
    return float(torch.cat(ious).mean())


__all__ = ["train_attribute_classifiers", "attribute_accuracy", "swap_accuracy", "judge_blur_check", "gate_iou",
           "accuracy"]
