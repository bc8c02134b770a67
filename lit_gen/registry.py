"""The one place where ``model.name`` and ``data.name`` map to code."""

from __future__ import annotations

from dataclasses import dataclass

from lit_gen.data.sources import DATASETS
from lit_gen.data.sources.base import SourceInfo
from lit_gen.errors import UserError
from lit_gen.models.cvae import CVAE, CVAEConfig, DisCVAE, DisCVAEConfig
from lit_gen.models.dcign import DCIGN, DCIGNConfig
from lit_gen.models.gan import GAN, GANConfig
from lit_gen.models.vae import VAE, VAEConfig


@dataclass(frozen=True)
class ModelSpec:
    module_cls: type
    config_cls: type
    family: str  # W&B group and comparison family


MODELS = {
    "vae": ModelSpec(VAE, VAEConfig, "vae"),
    "gan": ModelSpec(GAN, GANConfig, "gan"),
    "dcign": ModelSpec(DCIGN, DCIGNConfig, "dcign"),
    "cvae": ModelSpec(CVAE, CVAEConfig, "cvae"),
    "discvae": ModelSpec(DisCVAE, DisCVAEConfig, "discvae"),
}

__all__ = ["DATASETS", "MODELS", "ModelSpec", "model_spec", "check_needs"]


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UserError(f"model.name={name!r}: unknown model; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


def check_needs(model_name: str, info: SourceInfo) -> None:
    """A model that needs labels, factors, attributes or masks must get them."""
    missing = [k for k in model_spec(model_name).module_cls.needs if k not in info.keys]
    if missing:
        raise UserError(
            f"model.name={model_name} needs {', '.join(missing)} in each batch, but data.name={info.name} "
            f"provides only {', '.join(sorted(info.keys))}; pick a data set that has them (e.g. scenes)"
        )
