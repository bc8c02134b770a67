"""Data sources, selected by ``data.name``: one ``Source`` declaration per source, in the source's own module.

A declaration holds everything the rest of lit_gen needs to know about a source: its ``data.<section>`` config
dataclass, its factor groups and default odds, its builder, its factor renderer when it has one, and whether its
files enter the feature-net cache key. ``MODULES`` lists the built-in source modules (one line per source);
``register_source`` adds one from anywhere else. A source module is imported to check a config, before torch is:
its top level imports no torch, its builder and renderer import what they need when called.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from lit_gen.errors import UserError

# the shared data keys that change every source's items
IMAGE_KEYS = ("image_size", "channels", "val_fraction")
# the built-in sources: lit_gen.data.sources.<module>, each declaring SOURCES (a tuple of Source)
MODULES = ("scenes", "faces", "sprites", "mnist", "binarized_mnist", "folder", "toy", "cifar10", "celeba")


@dataclass(frozen=True)
class Source:
    """One ``data.name``.

    ``build(data_cfg) -> Splits``; ``renderer(data_cfg, training) -> factor renderer`` (lit_gen.data.renderers)
    for the sources that render their factors (``training``: for training batches, which may draw from fewer
    items). ``config`` is the dataclass of ``data.<section>`` (``section``
    defaults to ``name``; sources may share one, as the toy densities share ``data.toy``). ``factor_groups`` are the
    groups a factor batch or pair varies, in the order of ``data.factor_odds``; ``default_odds`` is that list when
    ``data.factor_odds`` is null (None: equal odds). ``files``: the source reads ``data.root``; ``key_fields``:
    the shared ``data`` keys beyond ``IMAGE_KEYS`` that change its items (``cache_key``). ``check(data_cfg)``: the
    source's own rules at config time (its files, its settings).
    """

    name: str
    build: Callable
    config: Optional[type] = None
    section: Optional[str] = None
    factor_groups: tuple = ()
    default_odds: Optional[tuple] = None
    renderer: Optional[Callable] = None
    files: bool = True
    check: Optional[Callable] = None
    key_fields: tuple = ()

    @property
    def section_name(self) -> Optional[str]:
        if self.config is None:
            return None
        return self.section or self.name

    def cache_key(self, data: dict) -> dict:
        """What of a resolved ``data`` section changes this source's images, labels or split (a feature net
        trained on them stays valid while it is equal): batching and the other sources' sections do not."""
        key = {k: data[k] for k in ("name", *IMAGE_KEYS, *self.key_fields) if k in data}
        if self.files and data.get("root") is not None:
            key["root"] = str(Path(str(data["root"])).expanduser().resolve())
        if self.section_name is not None and isinstance(data.get(self.section_name), dict):
            key[self.section_name] = data[self.section_name]
        return key


_SOURCES: dict = {}
_loaded = False
version = 0  # bumped by each registration: the config schema is rebuilt when it changes


def register_source(source: Source) -> Source:
    """Add (or replace) a source; its ``data.<section>`` enters the config schema from the next config loaded."""
    global version
    if not isinstance(source, Source):
        raise TypeError(f"register_source: expected a Source, got {type(source).__name__}")
    section = source.section_name
    for other in all_sources().values():
        if section is not None and other.name != source.name and other.section_name == section \
                and other.config is not source.config:
            raise ValueError(f"data.{section}: already the section of data.name={other.name}, with another config")
    _SOURCES[source.name] = source
    version += 1
    return source


def unregister_source(name: str) -> None:
    """Remove a source added by ``register_source`` (a test's, a plugin's)."""
    global version
    all_sources().pop(name, None)
    version += 1


def all_sources() -> dict:
    """{data.name: Source}: the built-in modules' declarations, then the registered ones."""
    global _loaded, version
    if not _loaded:
        _loaded = True
        for module in MODULES:
            for s in importlib.import_module(f"{__name__}.{module}").SOURCES:
                _SOURCES.setdefault(s.name, s)
        version += 1
    return _SOURCES


def source(name: str) -> Source:
    found = all_sources().get(name)
    if found is None:
        raise UserError(f"data.name={name!r}: unknown data set; choose one of {', '.join(sorted(all_sources()))}")
    return found


def sections() -> dict:
    """{section: config dataclass} of every source that has one, in registration order."""
    return {s.section_name: s.config for s in all_sources().values() if s.config is not None}


class _Builders(Mapping):
    """{data.name: builder}, read from the declarations when used (so a registered source is in it)."""

    def __getitem__(self, name):
        return all_sources()[name].build

    def __iter__(self):
        return iter(all_sources())

    def __len__(self):
        return len(all_sources())


DATASETS = _Builders()


def default_odds(name: str, groups) -> tuple:
    """``data.factor_odds`` when null: the source's default for its own groups, else equal odds."""
    s = all_sources().get(name)
    if s is not None and s.default_odds is not None and len(s.default_odds) == len(groups):
        return tuple(s.default_odds)
    return tuple(1.0 for _ in groups)
