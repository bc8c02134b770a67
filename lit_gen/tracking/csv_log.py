"""``<run>/metrics.csv``, kept across resumes.

Lightning's CSVLogger starts the file afresh whenever it opens a folder that holds one, so a resumed run lost every
row from before the resume. This logger appends: a resumed run's rows follow the earlier ones in the same file, and a
new metric key rewrites the file once with the wider header (earlier rows keep their values, the new column empty).
The format is CSVLogger's: one row per logging event, a ``step`` column, empty cells where a key was not logged.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn


def _plain(value: Any):
    return value.item() if hasattr(value, "item") else value


class RunCSVLogger(Logger):
    def __init__(self, run_dir: str, resume: bool = False, flush_every: int = 100):
        """``resume``: append to the run's metrics.csv; otherwise an old one (a reused run.name) is replaced."""
        super().__init__()
        self.dir = Path(run_dir)
        self.path = self.dir / "metrics.csv"
        if not resume and self.path.is_file() and rank_zero_only.rank == 0:
            rank_zero_warn(f"{self.path}: replaced (run.name names a finished run and no ckpt_path resumes it)")
            self.path.unlink()
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
            self._keys = next(csv.reader(self.path.open(newline="")), []) if self.path.is_file() else []
        rows, self._rows = self._rows, []
        new = sorted({k for r in rows for k in r} - set(self._keys))
        self.dir.mkdir(parents=True, exist_ok=True)
        if new:
            old = list(csv.DictReader(self.path.open(newline=""))) if self.path.is_file() else []
            self._keys = sorted(self._keys + new)
            rows, mode = old + rows, "w"
        else:
            mode = "a"
        with self.path.open(mode, newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._keys)
            if mode == "w":
                w.writeheader()
            w.writerows(rows)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()
