"""LightningModules (one folder per model) and their network components."""

import importlib


def lazy_exports(package: str, where: dict):
    """A package ``__getattr__`` that imports ``where[name]`` on first use.

    A model's config needs no torch, its module does: the package can then export both while checking a config
    stays fast (about a second, without torch and Lightning).
    """

    def __getattr__(name: str):
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
