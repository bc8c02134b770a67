"""Silence, at their source, the third-party messages that are not the user's concern in a lit_gen run.

Each filter matches one message exactly, so real warnings (a replaced metrics.csv, a skipped image) still show.
The filters hold inside ``with quiet_third_party():`` only (``lit_gen.run.train`` wraps its run in it): the
process's warning filters and logging filters are as they were once the block ends.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator

# Lightning advertises its hosted logger whenever a Trainer starts without it
TIP_LOGGER = "lightning.pytorch.utilities.rank_zero"
TIP = "💡 Tip: For seamless cloud logging"


class _DropMessage(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.start)


@contextlib.contextmanager
def quiet_third_party(resuming: bool = False) -> Iterator[None]:
    """The filters, for the block. ``resuming``: the run continues from its own checkpoint, so its folder holds
    checkpoints by design."""
    tip = logging.getLogger(TIP_LOGGER)
    drop = _DropMessage(TIP)
    with warnings.catch_warnings():
        # Lightning's own pytree helper uses a deprecated torch class; nothing a user can change
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
        # DC-IGN's one-factor batches are an IterableDataset whose length is the epoch's (per rank, on purpose)
        warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")
        if resuming:
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        tip.addFilter(drop)
        try:
            yield
        finally:
            tip.removeFilter(drop)
