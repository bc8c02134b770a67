"""Training a classifier on a data set's labels, deterministically: the domain feature net
(:class:`~lit_gen.metrics.feature_net.DomainNet`) and the Attribute2Image judges (:mod:`lit_gen.metrics.judges`).

A fixed seed, one thread and the CPU: every machine and thread count builds the same weights bit for bit.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from lit_gen.metrics.blur import gaussian_blur
from lit_gen.metrics.feature_net import DomainNet, DomainNetConfig
from lit_gen.metrics.tqdm_bar import progress_bar


class one_thread:
    """torch on one intra-op thread inside the block: CPU kernels then sum in one order, so the weights a
    training makes do not depend on the machine's or the process's thread count."""

    def __enter__(self):
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.threads)


def _loader(ds, batch_size: int, shuffle: bool, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g, num_workers=0)


def planned_epochs(net_cfg: DomainNetConfig, n_train: int) -> int:
    """``net_cfg.epochs``, or more on a small data set, so the net takes at least ``net_cfg.min_steps`` steps."""
    return max(net_cfg.epochs, math.ceil(net_cfg.min_steps / max(1, math.ceil(n_train / net_cfg.batch_size))))


@torch.no_grad()
def accuracy(net: nn.Module, ds, batch_size: int = 500) -> float:
    net.eval()
    correct = total = 0
    for batch in _loader(ds, batch_size, False, 0):
        pred = net(batch["image"].float()).argmax(1)
        correct += (pred == batch["label"].long()).sum().item()
        total += len(pred)
    return correct / max(total, 1)


def train_domain_net(splits, net_cfg: DomainNetConfig, progress: bool = True,
                     blur_augment: float = 0.0, make_net=None) -> tuple[nn.Module, float]:
    """Train the classifier on ``splits.train``; returns it (eval mode) and its test-split accuracy.

    Deterministic: a fixed seed, one thread (:class:`one_thread`), the CPU; the same weights bit for bit
    whatever the process's thread count.

    ``make_net(info)``: another classifier to train the same way (the judges of :mod:`lit_gen.metrics.judges`);
    built under ``net_cfg.seed`` like the default :class:`DomainNet`.

    ``blur_augment`` > 0: each training batch is blurred by a Gaussian of std drawn uniformly from
    [0, blur_augment] pixels, so the classifier reads shape rather than edge sharpness (the Attribute2Image
    judges' ``--judge-blur``; the cached FID feature nets never use it).
    """
    info = splits.info
    train_ds = splits.train
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(net_cfg.seed)
        if net_cfg.max_train is not None and net_cfg.max_train < len(train_ds):
            idx = torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(net_cfg.seed))[: net_cfg.max_train]
            train_ds = torch.utils.data.Subset(train_ds, idx.tolist())
        net = (DomainNet(info.channels, info.image_size, info.num_classes, net_cfg.widths, net_cfg.feat_dim)
               if make_net is None else make_net(info))
        opt = torch.optim.AdamW(net.parameters(), lr=net_cfg.lr, weight_decay=net_cfg.weight_decay)
        loader = _loader(train_ds, net_cfg.batch_size, True, net_cfg.seed)
        epochs = planned_epochs(net_cfg, len(train_ds))
        steps = max(1, epochs * len(loader))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=net_cfg.lr, total_steps=steps, pct_start=0.15)
        bar = progress_bar(steps, f"domain features ({info.name})", progress, unit="step")
        net.train()
        for _ in range(epochs):
            for batch in loader:
                x = batch["image"].float()
                if blur_augment > 0:
                    sigma = float(torch.rand(())) * blur_augment
                    x = gaussian_blur(x, sigma) if sigma > 0.1 else x  # below 0.1 px the kernel is the identity
                loss = F.cross_entropy(net(x), batch["label"].long())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        bar.close()
    test_ds = splits.test if len(splits.test) else splits.val
    acc = accuracy(net, test_ds)
    net.eval()
    return net, acc
