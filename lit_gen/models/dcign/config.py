"""Typed config of DC-IGN (``model.name=dcign``): the VAE's keys plus the latent layout and the clamping rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from lit_gen.bounds import bounded

from lit_gen.errors import UserError
from lit_gen.models.vae.config import VAEConfig

GROUPS = ("azimuth", "elevation", "light", "intrinsic")  # scenes and faces; a source may vary others (sprites)
DEFAULT_LATENTS = {"azimuth": [0], "elevation": [1], "light": [2], "intrinsic": "3:"}


def latent_indices(spec, latent_dim: int, key: str) -> list:
    """A ``factor_latents`` entry as a list of latent indices.

    ``spec``: a list of indices (``[0]``, ``[3, 4, 5]``) or a slice string
    (``"3:"`` = 3 .. latent_dim-1, ``"3:8"`` = 3 .. 7).
    """
    if isinstance(spec, str):
        parts = spec.split(":")
        try:
            if len(parts) != 2:
                raise ValueError
            lo = int(parts[0]) if parts[0].strip() else 0
            hi = int(parts[1]) if parts[1].strip() else latent_dim
        except ValueError:
            raise UserError(f"{key}={spec!r}: expected a list of latent indices or a slice like '3:' or '3:8'") from None
        idx = list(range(lo, hi))
    else:
        try:
            idx = [int(i) for i in spec]
        except (TypeError, ValueError):
            raise UserError(f"{key}={spec!r}: expected a list of latent indices or a slice like '3:'") from None
    if not idx:
        raise UserError(f"{key}={spec!r}: selects no latent (model.latent_dim={latent_dim})")
    bad = [i for i in idx if not 0 <= i < latent_dim]
    if bad:
        raise UserError(f"{key}={spec!r}: index {bad[0]} is outside 0..{latent_dim - 1} (model.latent_dim={latent_dim})")
    return idx


def latent_layout(factor_latents: dict, latent_dim: int, groups=GROUPS) -> dict:
    """{group: [latent indices]} in ``groups`` order (the data's factor groups); UserError for unknown groups or
    overlaps."""
    unknown = [g for g in factor_latents if g not in groups]
    if unknown:
        raise UserError(f"model.factor_latents.{unknown[0]}: unknown factor group; choose from {', '.join(groups)}")
    missing = [g for g in groups if g not in factor_latents]
    if missing:
        raise UserError(f"model.factor_latents: missing group {missing[0]!r}; give latents for each of {', '.join(groups)}")
    layout, seen = {}, {}
    for g in groups:
        idx = latent_indices(factor_latents[g], latent_dim, f"model.factor_latents.{g}")
        for i in idx:
            if i in seen:
                raise UserError(f"model.factor_latents: latent {i} is in both {seen[i]} and {g}")
            seen[i] = g
        layout[g] = idx
    return layout


@dataclass
class DCIGNConfig(VAEConfig):
    name: str = "dcign"
    latent_dim: int = 16
    # which latents carry which factor group (z1 azimuth, z2 elevation, z3 light, the rest intrinsic)
    # null: DC-IGN's layout for its groups (scenes, faces), DEFAULT_LATENTS. A source with other groups (sprites)
    # needs its own; null rather than a dict default, which a config's dict would be merged into, not replace
    factor_latents: Optional[dict] = None
    clamp: bool = True  # false: the plain-VAE baseline on the same batches (evaluated with its best latent per factor)
    clamp_to: Literal["mean", "first"] = "mean"  # the paper | sample 0 of the batch (the authors' code)
    clamp_params: bool = False  # true: clamp mu and log-variance before sampling (the authors' code); false: clamp z
    # backward push strength * (z_i - batch mean) on clamped latents; 0: none
    invariance_strength: float = bounded(0.01, ge=0)

    def latents(self) -> dict:
        """``factor_latents``, or DC-IGN's layout when it is null."""
        return dict(self.factor_latents) if self.factor_latents is not None else dict(DEFAULT_LATENTS)

    def check_factor_groups(self, groups: tuple, data_name: str) -> None:
        """The latent layout names the groups the data varies (the config loader passes the source's)."""
        latents = self.latents()
        if groups and set(latents) != set(groups):
            raise UserError(f"model.factor_latents has groups {', '.join(latents)}; data.name={data_name} varies "
                            f"{', '.join(groups)}: give latents for each of those")

    def validate(self, cfg) -> None:
        super().validate(cfg)
        latent_layout(self.latents(), self.latent_dim, tuple(self.latents()))
        if self.clamp and not cfg.data.factor_batches:
            raise UserError("model.name=dcign with model.clamp=true trains on one-factor batches: set data.factor_batches=true")
