"""Silence, at their source, the third-party messages that are not the user's concern in a lit_gen run.

Each filter matches one message exactly, so real warnings (a replaced metrics.csv, a skipped image) still show.
"""

from __future__ import annotations

import logging
import warnings


class _DropMessage(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.start)


def quiet_third_party(resuming: bool = False) -> None:
    """``resuming``: the run continues from its own checkpoint, so its folder holds checkpoints by design."""
    # Lightning 2.6 on torch 2.13: its own pytree helper uses a deprecated torch class; nothing a user can change
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # DC-IGN's one-factor batches are an IterableDataset whose length is the epoch's (per rank, on purpose)
    warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")
    if resuming:
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # Lightning advertises its hosted logger whenever a Trainer starts without it
    tip = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropMessage) for f in tip.filters):
        tip.addFilter(_DropMessage("💡 Tip: For seamless cloud logging"))
