"""Range bounds declared beside a config field, and the one check that reads them.

``lr: float = bounded(1e-3, gt=0)`` puts the rule next to the default; ``check_bounds`` walks a config
dataclass (and the dataclasses inside it) and raises one ``UserError`` naming the key, the value and the rule.
Choices are ``Literal`` fields instead: OmegaConf names the key and the valid values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from lit_gen.errors import UserError


@dataclass(frozen=True)
class Bounds:
    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None
    lt: Optional[float] = None
    note: str = ""  # appended to the rule, e.g. "(0 turns the IW-NLL off)"

    def holds(self, v) -> bool:
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))

    def rule(self) -> str:
        lo = (f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else None)
        hi = (f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else None)
        if lo and hi:
            text = f"must be in {lo}, {hi}"
        elif lo:
            text = f"must be {'>=' if self.ge is not None else '>'} {lo[1:]}"
        else:
            text = f"must be {'<=' if self.le is not None else '<'} {hi[:-1]}"
        return f"{text} {self.note}" if self.note else text


def bounded(default: Any, *, ge=None, gt=None, le=None, lt=None, note: str = ""):
    """A dataclass field whose value (when not None) must lie within the bounds."""
    return field(default=default, metadata={"bounds": Bounds(ge, gt, le, lt, note)})


def check_bounds(cfg, prefix: str) -> None:
    """UserError ``<prefix>.<key>=<value>: must be ...`` for the first field outside its bounds."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check_bounds(value, f"{prefix}.{f.name}")
            continue
        b = f.metadata.get("bounds")
        if b is not None and value is not None and not b.holds(value):
            raise UserError(f"{prefix}.{f.name}={value!r}: {b.rule()}")
