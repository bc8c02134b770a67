"""The tqdm bar of the long loops outside Lightning's (feature-net training, sampling, IW-NLL, AIS)."""

from __future__ import annotations

import sys


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "it", delay: float = 0.0):
    """A tqdm bar on stderr; in a log file (not a terminal) it updates every 10 s instead of 10 times a second."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, delay=delay, file=sys.stderr, unit=unit,
                dynamic_ncols=True, mininterval=0.1 if tty else 10.0)
