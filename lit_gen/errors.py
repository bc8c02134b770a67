"""The errors a CLI reports as one line, with a non-zero exit code and no traceback.

``UserError`` is a mistake in user input (config, data, checkpoint, CLI argument): the message names the key, path
or value. The others stop a run for a reason outside the user's input; each says what was kept and how to go on.
"""

from __future__ import annotations


class LitGenError(Exception):
    """An error the CLIs print as ``<prefix>: <message>`` and turn into ``exit_code``."""

    exit_code = 1
    prefix = "error"


class UserError(LitGenError):
    """A mistake in user input; the message names the key, path or value."""

    exit_code = 2


class TrainingDiverged(LitGenError):
    """A loss or the weights became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3


class StorageError(LitGenError):
    """A file could not be written (disk full, read-only, no permission); the earlier files are kept."""

    exit_code = 4


class Interrupted(LitGenError):
    """SIGTERM or Ctrl-C during training: the run saved its last step and stopped; the shell's code for the signal."""

    prefix = "lit_gen"

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + int(signum)  # 143 for SIGTERM, 130 for SIGINT
