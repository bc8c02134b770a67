"""Data sources. Each module exposes ``build(cfg) -> Splits``."""
