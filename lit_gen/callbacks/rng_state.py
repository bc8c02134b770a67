"""The global torch RNG of every rank in checkpoints, restored before the first resumed batch, so a resumed run
draws the same noise as an uninterrupted one (single-process and DDP with the same number of ranks)."""

from __future__ import annotations

import lightning as L
import torch


def _own_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


class RngState(L.Callback):
    def __init__(self):
        self._to_load = None

    def state_dict(self) -> dict:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            ranks = [None] * dist.get_world_size()  # every rank saves through Lightning's collective checkpoint path
            dist.all_gather_object(ranks, _own_state())
            return {"ranks": ranks}
        return _own_state()

    def load_state_dict(self, state_dict: dict) -> None:
        self._to_load = state_dict

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        state, self._to_load = self._to_load, None
        if state is None:
            return
        if "ranks" in state:
            if len(state["ranks"]) != trainer.world_size:
                return  # another number of ranks: each keeps its freshly seeded stream
            state = state["ranks"][trainer.global_rank]
        elif trainer.world_size > 1:
            return
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
