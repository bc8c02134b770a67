"""Config loading: YAML file + dotlist overrides -> one validated DictConfig."""

from lit_gen.config.load import load_config, config_to_yaml

__all__ = ["load_config", "config_to_yaml"]
