"""``<run>/metrics.csv``, kept across resumes.

Lightning's CSVLogger starts the file afresh whenever it opens a folder that holds one, so a resumed run lost every
row from before the resume. This logger starts the file when there is none and appends otherwise: a resumed run's
rows follow the earlier ones in the same file, and a new metric key rewrites the file once with the wider header
(earlier rows keep their values, the new column empty). A new run never finds an old file: ``run`` refuses a folder
that holds a run unless ``run.overwrite=true``, and then empties it first.
The format is CSVLogger's: one row per logging event, a ``step`` column, empty cells where a key was not logged.
A failed write (disk full, read-only) leaves the file as it was and raises ``StorageError``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from lit_gen.errors import StorageError
from lit_gen.storage import atomic_path, storage_errors


def _plain(value: Any):
    return value.item() if hasattr(value, "item") else value


class RunCSVLogger(Logger):
    def __init__(self, run_dir: str, flush_every: int = 100):
        """``<run_dir>/metrics.csv``, written every ``flush_every`` rows and at the end."""
        super().__init__()
        self.dir = Path(run_dir)
        self.path = self.dir / "metrics.csv"
        self.flush_every = flush_every
        self._rows: list[dict] = []
        self._keys: Optional[list] = None  # the file's header, read on first save

    @property
    def name(self) -> str:
        return ""

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.dir)

    @property
    def log_dir(self) -> str:
        return str(self.dir)

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """Nothing: the run's resolved config is ``<run>/config.yaml``, written before training."""

    @rank_zero_only
    def log_metrics(self, metrics: dict, step: Optional[int] = None) -> None:
        self._rows.append({**{k: _plain(v) for k, v in metrics.items()}, "step": step})
        if len(self._rows) >= self.flush_every:
            self.save()

    @rank_zero_only
    def save(self) -> None:
        if not self._rows:
            return
        if self._keys is None:
            self._keys = self._read_header()
        rows, self._rows = self._rows, []
        try:
            new = sorted({k for r in rows for k in r} - set(self._keys))
            if new or not self.path.is_file():
                self._rewrite(sorted(self._keys + new), rows)
            else:
                self._append(rows)
        except BaseException:
            self._rows = rows + self._rows  # not written: a later save may still write them
            raise

    def _read_header(self) -> list:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            return next(csv.reader(f), [])

    def _rewrite(self, keys: list, rows: list) -> None:
        """The whole file with the header ``keys``: the old rows, then ``rows``."""
        old = []
        if self.path.is_file():
            with open(self.path, newline="") as f:
                old = list(csv.DictReader(f))
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(old + rows)
        self._keys = keys

    def _append(self, rows: list) -> None:
        """``rows`` at the end of the file; a failed write cuts the file back to its old end (no partial row)."""
        buf = io.StringIO(newline="")
        csv.DictWriter(buf, fieldnames=self._keys).writerows(rows)
        with storage_errors(self.path):
            size = self.path.stat().st_size
            try:
                with open(self.path, "a", newline="") as f:
                    f.write(buf.getvalue())
            except BaseException:
                with contextlib.suppress(OSError):
                    os.truncate(self.path, size)
                raise

    @rank_zero_only
    def finalize(self, status: str) -> None:
        try:
            self.save()
        except StorageError:
            if status != "failed":
                raise
            # a run already stopping for an error: a second failed write must not hide the first
