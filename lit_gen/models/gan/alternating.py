"""Two networks trained in turn by manual optimization, DDP-safe: the GAN's scheme, shared by every adversarial
model (the GAN, the CVAE-GAN). Why each piece is there: the DDP section of :mod:`lit_gen.models.gan.module`."""

from __future__ import annotations

from typing import Callable

import torch

from lit_gen.models.optim import build_optimizer, build_scheduler


def _no_closure() -> None:
    return None


class AlternatingSteps:
    """Mixed into a LightningModule with ``automatic_optimization = False``."""

    def _optimize(self, opt, compute: Callable[[], dict], key: str, count: bool) -> dict:
        """One update of the network that ``opt`` owns; the other network is frozen meanwhile."""
        with opt.toggle_model(sync_grad=False):  # freezes the idle net; blocks DDP's reducer
            terms = compute()
            opt.zero_grad(set_to_none=True)
            self.manual_backward(terms[key])
        self._average_gradients(opt.optimizer)
        if count:
            opt.step()  # counted: trainer.global_step is the number of these
        else:
            self.trainer.strategy.optimizer_step(opt.optimizer, _no_closure)
        return {k: v.detach() for k, v in terms.items()}

    def _average_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """All-reduce (mean) the gradients of one optimizer's parameters across processes, as one flat tensor."""
        if self.trainer.world_size <= 1:
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for p in params:
            if p.grad is None:  # keep the flat layout identical on every process
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        flat = self.trainer.strategy.reduce(flat, reduce_op="mean")
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def two_optimizers(self, counted, other):
        """``configure_optimizers``' answer for two parameter lists: the counted optimizer first (``optim.lr``),
        the other at ``optim.lr_d``, each with the configured per-epoch scheduler."""
        o = self.optim_cfg
        opts = [build_optimizer(counted, o), build_optimizer(other, o, lr=o.lr_d)]
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        scheds = [build_scheduler(opt, o, max_epochs) for opt in opts]
        if scheds[0] is None:
            return opts
        return opts, [{"scheduler": s, "interval": "epoch"} for s in scheds]

    def on_train_epoch_end(self) -> None:
        scheds = self.lr_schedulers()  # manual optimization: Lightning leaves schedulers to us
        if scheds is None:
            return
        for s in scheds if isinstance(scheds, list) else [scheds]:
            s.step()

    def on_validation_epoch_start(self) -> None:
        self._broadcast_buffers()

    @torch.no_grad()
    def _broadcast_buffers(self) -> None:
        """DDP: rank 0's buffers (BN statistics, EMA's, fixed noise, counters) to every process."""
        if self._trainer is None or self.trainer.world_size <= 1 or not torch.distributed.is_initialized():
            return
        for b in self.buffers():
            torch.distributed.broadcast(b, src=0)

