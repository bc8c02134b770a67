"""The attribute vector y: from the batch, and drawn from its prior for ``sample(n)``.

- ``condition=attributes``: y = the batch's ``attributes`` (scenes: 15 columns, one-hot shape and
  colour, then size, azimuth, elevation, light in [-1, 1]).
- ``condition=label``: y = one-hot of the batch's ``label`` (e.g. the MNIST digit).
- ``condition=auto``: attributes when the data has them, else label.

``sample(n)`` (grids, FID) draws y from the attributes' own prior, which for the scenes is
exact (the renderer draws every factor independently and uniformly): one uniformly drawn
class per discrete group (one-hot), and each continuous column uniform in [-1, 1].
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from lit_gen.errors import UserError
from lit_gen.spec import DataSpec


def resolve_condition(condition: str, data: DataSpec, model_name: str) -> str:
    keys = set(data.keys)
    if condition == "auto":
        condition = "attributes" if "attributes" in keys else "label"
    if condition == "attributes" and "attributes" not in keys:
        raise UserError(f"model.name={model_name} with model.condition=attributes needs attributes in each batch, but the "
                        f"data provides only {', '.join(sorted(keys))}; use model.condition=label (one-hot class)")
    if condition == "label" and ("label" not in keys or not data.num_classes):
        raise UserError(f"model.name={model_name} with model.condition=label needs class labels, but the data provides "
                        f"only {', '.join(sorted(keys))}")
    return condition


def attribute_layout(data: DataSpec, condition: str) -> tuple[dict, list]:
    """({group: (start, stop)} of the one-hot blocks, [continuous column indices])."""
    if condition == "label":
        return {"label": (0, int(data.num_classes))}, []
    groups, cont = {}, []
    for i, name in enumerate(data.attribute_names):
        if "=" in name:
            g = name.split("=", 1)[0]
            lo, hi = groups.get(g, (i, i))
            groups[g] = (min(lo, i), i + 1)
        else:
            cont.append(i)
    return groups, cont


def value_names(data: DataSpec, condition: str, group: str) -> list:
    if condition == "label":
        return [str(k) for k in range(int(data.num_classes))]
    lo, hi = attribute_layout(data, condition)[0][group]
    return [n.split("=", 1)[1] for n in data.attribute_names[lo:hi]]


class Conditioner:
    """y from batches and from the prior."""

    def __init__(self, data: DataSpec, condition: str):
        self.condition = condition
        self.groups, self.continuous = attribute_layout(data, condition)
        self.dim = int(data.num_classes) if condition == "label" else len(data.attribute_names)

    def from_batch(self, batch: dict) -> torch.Tensor:
        if self.condition == "label":
            return F.one_hot(batch["label"].long(), self.dim).float()
        return batch["attributes"].float()

    def prior(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        y = torch.zeros(n, self.dim)
        for lo, hi in self.groups.values():
            k = torch.randint(0, hi - lo, (n,), generator=generator)
            y[torch.arange(n), lo + k] = 1.0
        if self.continuous:
            y[:, self.continuous] = torch.rand(n, len(self.continuous), generator=generator) * 2 - 1
        return y

    def set_value(self, y: torch.Tensor, group: str, value: int) -> torch.Tensor:
        lo, hi = self.groups[group]
        y = y.clone()
        y[:, lo:hi] = 0.0
        y[:, lo + value] = 1.0
        return y
