"""Turn ``--config FILE key=value ...`` into one validated, resolved DictConfig.

Every mistake becomes a ``UserError`` whose one-line message names the key and,
where there is a fixed set, the valid choices.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable, Optional

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError, OmegaConfBaseException, ValidationError

from lit_gen.config.schema import RootConfig
from lit_gen.errors import UserError

# keys that moved between sections: the error names the new place
MOVED_KEYS = {"logger.group": "run.group", "logger.tags": "run.tags"}


def read_yaml_mapping(path: str, label: str, what: str) -> dict:
    """A YAML file whose top level is a mapping; one-line ``UserError`` (starting with ``label``) otherwise.

    ``what`` says what the mapping should hold, for the error message.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{label}: no such file")
    try:
        data = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{label}: not a valid YAML config ({first})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{label}: the top level must be a mapping of {what}")
    return data


def _read_yaml(path: str) -> DictConfig:
    read_yaml_mapping(path, f"--config {path}", "sections (seed, data, model, ...)")
    try:
        # OmegaConf's own YAML loader: it reads 1e-3 as a float, as users expect
        return OmegaConf.load(Path(path))
    except (yaml.YAMLError, OmegaConfBaseException) as e:
        raise UserError(f"--config {path}: {str(e).splitlines()[0]}") from None


def _parse_overrides(overrides: Iterable[str]) -> DictConfig:
    items = list(overrides)
    for item in items:
        key = item.split("=", 1)[0]
        if "=" not in item or not key or key.startswith("-"):
            raise UserError(f"override {item!r}: expected key=value, e.g. model.latent_dim=32")
    try:
        return OmegaConf.from_dotlist(items)
    except (OmegaConfBaseException, yaml.YAMLError) as e:
        raise UserError(f"overrides: could not parse ({str(e).splitlines()[0]})") from None


def _valid_keys(object_type) -> str:
    if object_type is not None and dataclasses.is_dataclass(object_type):
        return ", ".join(f.name for f in dataclasses.fields(object_type))
    return ""


def _schema_for(model_name: str) -> DictConfig:
    from lit_gen.registry import model_spec

    schema = OmegaConf.structured(RootConfig)
    schema.model = OmegaConf.structured(model_spec(model_name).config_cls)
    return schema


def load_config(path: Optional[str], overrides: Iterable[str] = ()) -> DictConfig:
    """Load, merge, type-check, resolve and range-check a config."""
    from lit_gen.registry import DATASETS, MODELS

    raw = _read_yaml(path) if path else OmegaConf.create({})
    dot = _parse_overrides(overrides)
    try:
        merged_raw = OmegaConf.merge(raw, dot)
    except OmegaConfBaseException as e:
        raise UserError(f"config: {str(e).splitlines()[0]}") from None

    model_name = OmegaConf.select(merged_raw, "model.name", default=None)
    if model_name is None:
        raise UserError(f"model.name: missing; choose one of {', '.join(sorted(MODELS))}")
    if model_name not in MODELS:
        raise UserError(f"model.name={model_name!r}: unknown model; choose one of {', '.join(sorted(MODELS))}")

    try:
        cfg = OmegaConf.merge(_schema_for(model_name), raw, dot)
    except ConfigKeyError as e:
        if e.full_key in MOVED_KEYS:
            raise UserError(f"config: '{e.full_key}' is now '{MOVED_KEYS[e.full_key]}'") from None
        valid = _valid_keys(e.object_type)
        hint = f" (valid keys: {valid})" if valid else ""
        raise UserError(f"config: unknown key '{e.full_key}'{hint}") from None
    except ValidationError as e:
        raise UserError(f"config: {e.full_key}: {e.msg.splitlines()[0]}") from None
    except OmegaConfBaseException as e:
        raise UserError(f"config: {str(e).splitlines()[0]}") from None

    try:
        OmegaConf.resolve(cfg)
    except (InterpolationResolutionError, OmegaConfBaseException) as e:
        key = getattr(e, "full_key", "") or "config"
        raise UserError(f"{key}: could not resolve interpolation ({str(e).splitlines()[0]})") from None

    if cfg.data.name not in DATASETS:
        raise UserError(f"data.name={cfg.data.name!r}: unknown data set; choose one of {', '.join(sorted(DATASETS))}")
    validate(cfg)
    OmegaConf.set_readonly(cfg, False)
    return cfg


def _check(cond: bool, key: str, value, why: str) -> None:
    if not cond:
        raise UserError(f"{key}={value!r}: {why}")


def _choice(key: str, value, choices) -> None:
    _check(value in choices, key, value, f"choose one of {', '.join(map(str, choices))}")


def validate(cfg: DictConfig) -> None:
    """Range and choice checks the type system cannot express."""
    from lit_gen.registry import model_spec

    d = cfg.data
    _check(d.batch_size > 0, "data.batch_size", d.batch_size, "must be a positive integer")
    _check(d.image_size >= 4, "data.image_size", d.image_size, "must be at least 4")
    _choice("data.channels", d.channels, (1, 3))
    _check(d.num_workers >= 0, "data.num_workers", d.num_workers, "must be >= 0")
    _check(0.0 <= d.val_fraction < 1.0, "data.val_fraction", d.val_fraction, "must be in [0, 1)")
    _choice("data.binarize", d.binarize, ("dynamic", "static"))
    from lit_gen.data.factor_batches import check_odds

    _check(check_odds(d.factor_odds) is None, "data.factor_odds", list(d.factor_odds), str(check_odds(d.factor_odds)))
    if d.name == "faces":  # before a run folder exists: the settings, the model file and eos-py
        from lit_gen.data.faces.model import check_available
        from lit_gen.data.sources.faces import validate as validate_faces

        validate_faces(d)
        check_available(d.root)

    o = cfg.optim
    _choice("optim.name", o.name, ("adam", "adamw", "sgd"))
    _check(o.lr > 0, "optim.lr", o.lr, "must be positive")
    _check(o.lr_d is None or o.lr_d > 0, "optim.lr_d", o.lr_d, "must be positive")
    _check(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas), "optim.betas", list(o.betas), "must be two numbers in [0, 1)")
    _check(o.weight_decay >= 0, "optim.weight_decay", o.weight_decay, "must be >= 0")
    _choice("optim.scheduler", o.scheduler, ("none", "cosine", "step"))
    _check(o.cosine_epochs is None or o.cosine_epochs >= 1, "optim.cosine_epochs", o.cosine_epochs, "must be >= 1")

    t = cfg.trainer
    _check(t.max_epochs is None or t.max_epochs >= -1, "trainer.max_epochs", t.max_epochs, "must be >= 0, or -1 for no limit")
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
        v = t[key]
        ok = v is None or (isinstance(v, int) and v >= 0) or (isinstance(v, float) and 0.0 <= v <= 1.0)
        _check(ok, f"trainer.{key}", v, "must be a batch count (int) or a fraction in [0, 1]")

    lg = cfg.logger
    _choice("logger.name", lg.name, ("wandb", "csv", "none"))
    _choice("logger.mode", lg.mode, ("offline", "online"))

    m = cfg.metrics
    _check(m.every_n_epochs >= 1, "metrics.every_n_epochs", m.every_n_epochs, "must be >= 1")
    _check(m.num_samples >= 1, "metrics.num_samples", m.num_samples, "must be >= 1")
    _check(m.grid_size >= 1, "metrics.grid_size", m.grid_size, "must be >= 1")
    _choice("metrics.features", m.features, ("domain", "inception", "none"))
    _check(m.domain_epochs >= 1, "metrics.domain_epochs", m.domain_epochs, "must be >= 1")
    _check(m.domain_max_train is None or m.domain_max_train >= 1, "metrics.domain_max_train", m.domain_max_train,
           "must be >= 1 (or null for the whole training split)")
    _check(m.kid_subsets >= 1, "metrics.kid_subsets", m.kid_subsets, "must be >= 1")
    _check(m.nll_k >= 0, "metrics.nll_k", m.nll_k, "must be >= 0 (0 turns the IW-NLL off)")
    _check(m.nll_batch >= 1, "metrics.nll_batch", m.nll_batch, "must be >= 1")

    _check(cfg.run.ckpt_every_n_steps >= 0, "run.ckpt_every_n_steps", cfg.run.ckpt_every_n_steps,
           "must be >= 0 (0: checkpoint once per epoch only)")

    model_cfg = OmegaConf.to_object(cfg.model)
    model_spec(cfg.model.name).config_cls.validate(model_cfg, cfg)


def config_to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
