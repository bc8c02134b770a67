"""lit_gen's own messages to the user, one printer for every module: ``say(msg)`` writes ``lit_gen: <msg>``.

They go through the ``lit_gen`` logger (``logging``), on global rank 0 only. Its handler looks the stream up at
each message, so a caller that redirects ``sys.stdout`` (``evaluate`` keeps stdout for one JSON object; the
tests run CLIs in-process) sees every line. ``stderr=True`` sends a message to stderr, where a command's stdout
is its result.
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("lit_gen")


class _Console(logging.Handler):
    """``lit_gen: <message>`` on the current ``sys.stdout`` (or ``sys.stderr``), flushed at once."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if getattr(record, "to_stderr", False) else sys.stdout
        try:
            stream.write(f"lit_gen: {record.getMessage()}\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's own rule: a message never stops the program
            self.handleError(record)


if not any(isinstance(h, _Console) for h in LOGGER.handlers):
    LOGGER.addHandler(_Console())
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False  # one copy of each line, whatever the root logger's handlers


def say(msg: str, stderr: bool = False) -> None:
    """``lit_gen: <msg>`` on stdout (``stderr=True``: on stderr), from global rank 0 only."""
    from lightning_utilities.core.rank_zero import rank_zero_only  # the rank Lightning sets, as rank_zero_info reads it

    if getattr(rank_zero_only, "rank", 0) == 0:
        LOGGER.info(msg, extra={"to_stderr": stderr})


def say_on_stderr(msg: str) -> None:
    """``say(msg, stderr=True)``: an ``echo`` for the commands whose stdout is their result."""
    say(msg, stderr=True)
