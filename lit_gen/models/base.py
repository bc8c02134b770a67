"""What every lit_gen LightningModule shares.

Callbacks and metrics talk to models only through this protocol:
``sample(n, generator=None)`` and, where it makes sense, ``reconstruct(x)``,
both returning images in [0, 1]. So a grid or FID callback works for every
model without knowing which one it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from lit_gen.errors import UserError


@dataclass
class DataSpec:
    """What a model learns about its data: plain values, so models never import ``data``."""

    channels: int
    image_size: int
    keys: tuple = ("image",)
    binary: bool = False
    num_classes: Optional[int] = None
    factor_names: tuple = ()
    attribute_names: tuple = ()
    pixel_mean: Optional[list] = None  # per-channel-free mean image, flattened; for output-bias init

    @property
    def shape(self) -> tuple:
        return (self.channels, self.image_size, self.image_size)


def _plain(cfg) -> dict:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return dict(cfg)


def build_optimizer(params, optim: dict, lr: Optional[float] = None) -> torch.optim.Optimizer:
    lr = optim["lr"] if lr is None else lr
    name = optim["name"]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(optim["betas"]), eps=optim["eps"], weight_decay=optim["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(optim["betas"]), eps=optim["eps"], weight_decay=optim["weight_decay"])
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=optim["betas"][0], weight_decay=optim["weight_decay"])
    raise UserError(f"optim.name={name!r}: choose one of adam, adamw, sgd")


def build_scheduler(opt, optim: dict, max_epochs: Optional[int]):
    kind = optim.get("scheduler", "none")
    if kind == "none":
        return None
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, max_epochs or 1))
    return torch.optim.lr_scheduler.StepLR(opt, step_size=optim["step_size"], gamma=optim["gamma"])


class GenerativeModule(L.LightningModule):
    """Base class: keeps configs as plain dicts (safe to checkpoint) and builds optimizers."""

    #: batch keys the model needs; the registry checks them against the data source
    needs: tuple = ("image",)

    def __init__(self, model_cfg, optim_cfg, data: DataSpec):
        super().__init__()
        self.model_cfg = _plain(model_cfg)
        self.optim_cfg = _plain(optim_cfg)
        self.data = data
        # plain types only, so checkpoints load with weights_only=True
        self.save_hyperparameters(
            {"model": self.model_cfg, "optim": self.optim_cfg, "data": dict(vars(data), pixel_mean=None)}
        )

    # --- the protocol -------------------------------------------------
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        return None

    # --- one loss, logged the same way by every single-loss model ----
    #: logged terms shown in the progress bar
    prog_bar_keys: tuple = ("loss",)

    def step_terms(self, batch: dict) -> dict:
        """Per-item loss terms, each of shape (N,), with a ``loss`` entry to minimise."""
        raise NotImplementedError

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        terms = self.step_terms(batch)
        n = batch["image"].shape[0]
        for k, v in terms.items():
            self.log(f"{stage}/{k}", v.mean(), on_step=stage == "train", on_epoch=True, prog_bar=k in self.prog_bar_keys,
                     batch_size=n, sync_dist=stage != "train")
        return terms["loss"].mean()

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    # --- optimization -------------------------------------------------
    def configure_optimizers(self):
        opt = build_optimizer(self.parameters(), self.optim_cfg)
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        sched = build_scheduler(opt, self.optim_cfg, max_epochs)
        if sched is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
