"""The ``optim`` section: its typed config and the optimizer and scheduler it builds.

torch is imported inside the builders: the config loader reads ``OptimConfig`` without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from lit_gen.bounds import bounded
from lit_gen.errors import UserError


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = bounded(1e-3, gt=0)
    betas: list = field(default_factory=lambda: [0.9, 0.999])  # sgd: betas[0] is the momentum
    eps: float = bounded(1e-8, gt=0)
    weight_decay: float = bounded(0.0, ge=0)
    lr_d: Optional[float] = bounded(None, gt=0)  # the second optimizer's lr (GAN discriminator); None: lr
    scheduler: Literal["none", "cosine", "step"] = "none"
    cosine_epochs: Optional[int] = bounded(None, ge=1)  # cosine period in epochs; default trainer.max_epochs
    step_size: int = bounded(30, ge=1)
    gamma: float = bounded(0.1, gt=0)
    # Adam/AdamW's fused kernel (torch's ``fused``): the same update to float rounding in one pass over all
    # parameters, faster than torch's per-tensor loop on CPU (benchmarks/bench_optim.py). true: fused where
    # torch has the kernel for the parameters' device (CPU, CUDA); false (default): torch's loop. Not the default
    # because the rounding moves a GAN's trajectory enough to flip a marginal run (docs/performance.md).
    fused: bool = False

    def validate(self, root) -> None:
        betas = list(self.betas)
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise UserError(f"optim.betas={betas!r}: must be two numbers in [0, 1)")
        max_epochs = root.trainer.max_epochs
        if self.scheduler == "cosine" and self.cosine_epochs is None and (max_epochs is None or max_epochs < 1):
            # the period would fall back to one epoch, and the rate would swing between lr and 0 every epoch
            raise UserError(f"optim.scheduler=cosine with trainer.max_epochs={max_epochs}: set optim.cosine_epochs, "
                            "the epochs the rate anneals over (a run of max_steps S covers S / batches per epoch)")


FUSED_DEVICES = ("cpu", "cuda")


def build_optimizer(params, optim: OptimConfig, lr: Optional[float] = None):
    import torch

    lr = optim.lr if lr is None else lr
    if optim.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=optim.betas[0], weight_decay=optim.weight_decay)
    cls = torch.optim.Adam if optim.name == "adam" else torch.optim.AdamW
    params = list(params)
    fused = optim.fused
    if fused:
        tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
        fused = bool(tensors) and all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in tensors)
    return cls(params, lr=lr, betas=tuple(optim.betas), eps=optim.eps, weight_decay=optim.weight_decay,
               fused=fused or None)


def build_scheduler(opt, optim: OptimConfig, max_epochs: Optional[int]):
    import torch

    if optim.scheduler == "none":
        return None
    if optim.scheduler == "cosine":
        # cosine_epochs decouples the period from max_epochs: a run stopped early (or cut to a budget) is
        # then exactly the first epochs of the longer schedule
        period = optim.cosine_epochs or max_epochs
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, period or 1))
    return torch.optim.lr_scheduler.StepLR(opt, step_size=optim.step_size, gamma=optim.gamma)
