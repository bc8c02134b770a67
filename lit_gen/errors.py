"""User-facing errors.

Every mistake a user can make (config, data, checkpoint, CLI argument) raises
``UserError``. The CLIs print its message as one line and exit non-zero, so
users never see a traceback for their own mistakes.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in user input; the message names the key, path or value."""

    exit_code = 2


class TrainingDiverged(UserError):
    """A loss or the weights became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3
