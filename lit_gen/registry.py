"""The one place where ``model.name`` and ``data.name`` map to code.

Config classes are imported here directly (they need no torch); a model's LightningModule and its callbacks are
imported on first use, so checking a config never pays for torch and Lightning.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from lit_gen.data.sources import DATASETS
from lit_gen.errors import UserError
from lit_gen.models.adagvae.config import AdaGVAEConfig
from lit_gen.models.btcvae.config import BetaTCVAEConfig
from lit_gen.models.cvae.config import CVAEConfig, DisCVAEConfig
from lit_gen.models.cvae_gan.config import CVAEGANConfig
from lit_gen.models.dcign.config import DCIGNConfig
from lit_gen.models.gan.config import GANConfig
from lit_gen.models.iwae.config import IWAEConfig
from lit_gen.models.pixelvae.config import PixelVAEConfig
from lit_gen.models.seqvae.config import SeqVAEConfig
from lit_gen.models.vae.config import VAEConfig
from lit_gen.models.vae_iaf.config import VAEIAFConfig


def _load(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ModelSpec:
    config_cls: type
    module: str  # "package.module:Class" of the LightningModule
    family: str  # W&B group and comparison family
    callbacks: str = ""  # "package.module:function(run_dir, cfg, datamodule) -> [Callback]": the model's own evaluation

    @property
    def module_cls(self) -> type:
        return _load(self.module)

    def build_callbacks(self, run_dir: str, cfg, datamodule) -> list:
        return _load(self.callbacks)(run_dir, cfg, datamodule) if self.callbacks else []


ATTRIBUTE_GRIDS = "lit_gen.callbacks.attribute_grids:attribute_grid_callbacks"
LATENT_SWEEPS = "lit_gen.callbacks.latent_sweeps:latent_sweep_callbacks"  # disentanglement metrics (data with factors)
MODELS = {
    "vae": ModelSpec(VAEConfig, "lit_gen.models.vae.module:VAE", "vae", LATENT_SWEEPS),
    "pixelvae": ModelSpec(PixelVAEConfig, "lit_gen.models.pixelvae.module:PixelVAE", "vae", LATENT_SWEEPS),
    "btcvae": ModelSpec(BetaTCVAEConfig, "lit_gen.models.btcvae.module:BetaTCVAE", "vae", LATENT_SWEEPS),
    "iwae": ModelSpec(IWAEConfig, "lit_gen.models.iwae.module:IWAE", "vae", LATENT_SWEEPS),
    "vae_iaf": ModelSpec(VAEIAFConfig, "lit_gen.models.vae_iaf.module:VAEIAF", "vae", LATENT_SWEEPS),
    "seqvae": ModelSpec(SeqVAEConfig, "lit_gen.models.seqvae.module:SeqVAE", "vae", LATENT_SWEEPS),
    "adagvae": ModelSpec(AdaGVAEConfig, "lit_gen.models.adagvae.module:AdaGVAE", "dcign", LATENT_SWEEPS),
    "gan": ModelSpec(GANConfig, "lit_gen.models.gan.module:GAN", "gan"),
    "dcign": ModelSpec(DCIGNConfig, "lit_gen.models.dcign.module:DCIGN", "dcign", LATENT_SWEEPS),
    "cvae": ModelSpec(CVAEConfig, "lit_gen.models.cvae.module:CVAE", "cvae", ATTRIBUTE_GRIDS),
    "cvae_gan": ModelSpec(CVAEGANConfig, "lit_gen.models.cvae_gan.module:CVAEGAN", "cvae", ATTRIBUTE_GRIDS),
    "discvae": ModelSpec(DisCVAEConfig, "lit_gen.models.cvae.layered:DisCVAE", "discvae", ATTRIBUTE_GRIDS),
}

__all__ = ["DATASETS", "MODELS", "ModelSpec", "model_spec", "build_model", "check_needs"]


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UserError(f"model.name={name!r}: unknown model; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


def build_model(cfg, data_spec):
    """The configured LightningModule: its typed model config and ``OptimConfig`` from the resolved config."""
    from omegaconf import OmegaConf

    return model_spec(cfg.model.name).module_cls(OmegaConf.to_object(cfg.model), OmegaConf.to_object(cfg.optim), data_spec)


def check_needs(model_name: str, info) -> None:
    """A model that needs labels, factors, attributes or masks must get them (``info``: the source's SourceInfo)."""
    missing = [k for k in model_spec(model_name).module_cls.needs if k not in info.keys]
    if missing:
        raise UserError(
            f"model.name={model_name} needs {', '.join(missing)} in each batch, but data.name={info.name} "
            f"provides only {', '.join(sorted(info.keys))}; pick a data set that has them (e.g. scenes)"
        )
