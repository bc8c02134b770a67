"""SIGTERM (preemption: SLURM, Kubernetes, spot machines) and Ctrl-C during training: finish the current optimizer
step, write ``last.ckpt`` at that step, and stop with the signal's conventional exit code (143, 130). A second
signal stops at once. Under DDP the ranks agree on the step (a max over their flags after every batch), so every
rank saves and stops together, whichever of them the signal reached.

The handlers replace Lightning's for the training loop only: Lightning's own SIGTERM handler lets the step finish
but saves nothing, and its teardown puts back the handlers that were there before ``fit``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import lightning as L
import torch

from lit_gen.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulStop(L.Callback):
    def __init__(self, ckpt_dir: str, resume_hint: str):
        self.last = Path(ckpt_dir) / "last.ckpt"
        self.resume_hint = resume_hint  # what to add to the command to continue, e.g. "ckpt_path=last run.name=x"
        self.signum = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.signum = 0
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                signal.signal(s, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.signum:  # the second signal: no more waiting
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        # written directly, not through lit_gen.messages: logging takes locks that the interrupted code may hold
        print(f"lit_gen: {signal.Signals(signum).name} received; stopping after this step (send it again to stop at "
              "once)", file=sys.stderr, flush=True)

    def _agreed(self, trainer) -> int:
        if trainer.world_size == 1 or not torch.distributed.is_initialized():
            return self.signum
        flag = torch.tensor([self.signum], device=trainer.strategy.root_device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return int(flag.item())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        signum = self._agreed(trainer)
        if not signum:
            return
        trainer.save_checkpoint(str(self.last), weights_only=False)
        name = signal.Signals(signum).name
        raise Interrupted(f"stopped by {name} at step {trainer.global_step}; saved {self.last}; to resume, run the "
                          f"same command with {self.resume_hint}", signum)
