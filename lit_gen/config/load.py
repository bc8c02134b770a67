"""Turn ``--config FILE key=value ...`` into one validated, resolved DictConfig.

Every mistake becomes a ``UserError`` whose one-line message names the key and,
where there is a fixed set, the valid choices.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path
from typing import Iterable, Optional

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError, OmegaConfBaseException, ValidationError

from lit_gen.bounds import check_bounds
from lit_gen.config.schema import TRAINER_ARGS_SET_BY_LIT_GEN, root_config
from lit_gen.data.sources import all_sources, source
from lit_gen.errors import UserError

# keys that moved between sections: the error names the new place
MOVED_KEYS = {"logger.group": "run.group", "logger.tags": "run.tags"}


def read_yaml_mapping(path: str, label: str, what: str) -> dict:
    """A YAML file whose top level is a mapping; one-line ``UserError`` (starting with ``label``) otherwise.

    ``what`` says what the mapping should hold, for the error message.
    """
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{label}: a folder, not a YAML file")
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


NAME_KEYS = ("run.name", "run.group", "logger.project")


def _parse_overrides(overrides: Iterable[str]) -> DictConfig:
    items = list(overrides)
    for item in items:
        key = item.split("=", 1)[0]
        if "=" not in item or not key or key.startswith("-"):
            raise UserError(f"override {item!r}: expected key=value, e.g. model.latent_dim=32")
    try:
        parsed = OmegaConf.from_dotlist(items)
    except (OmegaConfBaseException, yaml.YAMLError) as e:
        raise UserError(f"overrides: could not parse ({str(e).splitlines()[0]})") from None
    for item in items:  # a name stays the text typed: YAML would read run.name=off as False, run.name=1e3 as 1000.0
        key, raw = item.split("=", 1)
        if key in NAME_KEYS and raw not in ("null", "~", "") and raw[:1] not in "'\"":
            OmegaConf.update(parsed, key, raw)
    return parsed


def _valid_keys(object_type) -> str:
    if object_type is not None and dataclasses.is_dataclass(object_type):
        return ", ".join(f.name for f in dataclasses.fields(object_type))
    return ""


def _unknown_key(e: ConfigKeyError) -> str:
    key = e.full_key
    if key in MOVED_KEYS:
        return f"config: '{key}' is now '{MOVED_KEYS[key]}'"
    section, _, name = key.partition(".")
    if section == "trainer" and name in TRAINER_ARGS_SET_BY_LIT_GEN:
        return f"config: '{key}' is not a setting here: {TRAINER_ARGS_SET_BY_LIT_GEN[name]}"
    if section == "trainer":  # the valid keys are every lightning.Trainer argument: name the nearest instead
        near = difflib.get_close_matches(name, [f.name for f in dataclasses.fields(e.object_type)], n=1)
        hint = f"; did you mean trainer.{near[0]}?" if near else ""
        return f"config: unknown key '{key}': not a lightning.Trainer argument{hint}"
    valid = _valid_keys(e.object_type)
    return f"config: unknown key '{key}'" + (f" (valid keys: {valid})" if valid else "")


def _value_for_section(schema: DictConfig, node, prefix: str = "") -> Optional[str]:
    """The dotted key of the first plain value given where the schema has a section (``logger=none``), if any.

    OmegaConf's merge error for it names neither the key nor the section, only the section's class.
    """
    if not OmegaConf.is_dict(node):
        return None
    for key, value in node.items_ex(resolve=False):
        child = schema.get(key) if key in schema else None
        if not OmegaConf.is_dict(child):
            continue
        if not OmegaConf.is_dict(value) and value is not None:
            return prefix + str(key)
        found = _value_for_section(child, value, f"{prefix}{key}.")
        if found:
            return found
    return None


def _schema_for(model_name: str) -> DictConfig:
    from lit_gen.registry import model_spec

    schema = OmegaConf.structured(root_config())
    schema.model = OmegaConf.structured(model_spec(model_name).config_cls)
    return schema


def drop_unknown_keys(stored: dict) -> tuple[dict, list]:
    """A config written by an earlier lit_gen without the keys this one no longer has, and their dotted names.

    For configs that lit_gen wrote itself (a checkpoint's), where an unknown key is an option since removed, not a
    user's typo.
    """
    from lit_gen.registry import MODELS

    name = (stored.get("model") or {}).get("name")
    if name not in MODELS:
        return stored, []
    dropped = []

    def prune(node: dict, schema, prefix: str) -> dict:
        out = {}
        for key, value in node.items():
            if key not in schema:
                dropped.append(prefix + key)
                continue
            child = schema[key]
            typed = OmegaConf.is_dict(child) and dataclasses.is_dataclass(OmegaConf.get_type(child))
            out[key] = prune(value, child, f"{prefix}{key}.") if typed and isinstance(value, dict) else value
        return out

    return prune(stored, _schema_for(name), ""), dropped


def load_config(path: Optional[str], overrides: Iterable[str] = ()) -> DictConfig:
    """Load, merge, type-check, resolve and range-check a config."""
    from lit_gen.registry import MODELS

    raw = _read_yaml(path) if path else OmegaConf.create({})
    dot = _parse_overrides(overrides)
    try:
        merged_raw = OmegaConf.merge(raw, dot)
    except OmegaConfBaseException as e:
        raise UserError(f"config: {str(e).splitlines()[0]}") from None

    model_node = OmegaConf.select(merged_raw, "model", default=None)
    if model_node is not None and not OmegaConf.is_dict(model_node):
        raise UserError(f"model={model_node!r}: 'model' is a section, not a value; set model.name=..., "
                        f"one of {', '.join(sorted(MODELS))}")
    model_name = OmegaConf.select(merged_raw, "model.name", default=None)
    if model_name is None:
        raise UserError(f"model.name: missing; choose one of {', '.join(sorted(MODELS))}")
    if model_name not in MODELS:
        raise UserError(f"model.name={model_name!r}: unknown model; choose one of {', '.join(sorted(MODELS))}")

    schema = _schema_for(model_name)
    try:
        cfg = OmegaConf.merge(schema, raw, dot)
    except ConfigKeyError as e:
        raise UserError(_unknown_key(e)) from None
    except ValidationError as e:
        section = _value_for_section(schema, raw) or _value_for_section(schema, dot)
        if section:
            value = OmegaConf.select(merged_raw, section, default=None)
            names = [str(k) for k in OmegaConf.select(schema, section).keys()]
            keys = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise UserError(f"{section}={value!r}: '{section}' is a section, not a value; set one of its keys, "
                            f"e.g. {section}.<key>=... (keys: {keys})") from None
        choices = re.search(r"expected one of \[(.*)\]", e.msg or "")
        if choices:  # a Literal field: name the key, the value given and the choices
            value = OmegaConf.select(merged_raw, e.full_key, default=None)
            raise UserError(f"{e.full_key}={value!r}: choose one of {choices.group(1).replace(chr(39), '')}") from None
        raise UserError(f"config: {e.full_key or '?'}: {(e.msg or str(e)).splitlines()[0]}") from None
    except OmegaConfBaseException as e:
        raise UserError(f"config: {str(e).splitlines()[0]}") from None

    try:
        OmegaConf.resolve(cfg)
    except (InterpolationResolutionError, OmegaConfBaseException) as e:
        key = getattr(e, "full_key", "") or "config"
        raise UserError(f"{key}: could not resolve interpolation ({str(e).splitlines()[0]})") from None

    source(cfg.data.name)  # a UserError naming the known sources
    validate(cfg)
    OmegaConf.set_readonly(cfg, False)
    return cfg


def validate(cfg: DictConfig) -> None:
    """The range checks (declared with each field, see ``lit_gen.bounds``), then each section's own rules."""
    typed = OmegaConf.to_object(cfg)
    for section in ("data", "model", "optim", "trainer", "metrics", "run"):
        check_bounds(getattr(typed, section), section)
    for section in ("data", "optim", "trainer", "logger", "run", "model"):
        getattr(typed, section).validate(cfg)
    check_groups = getattr(typed.model, "check_factor_groups", None)
    if check_groups is not None:  # a model whose latents follow the data's factor groups (DC-IGN)
        check_groups(source(cfg.data.name).factor_groups, cfg.data.name)


def config_to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


def run_settings(cfg: DictConfig) -> dict:
    """The resolved config without the data sections of the sources the run does not use (a dashboard's table
    of runs has a column per key: a scenes run need not list data.faces.*)."""
    out = OmegaConf.to_container(cfg, resolve=True)
    used = source(cfg.data.name).section_name
    for section in {s.section_name for s in all_sources().values()} - {used, None}:
        out["data"].pop(section, None)
    return out
