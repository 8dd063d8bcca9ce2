"""Plugin discovery: every public module and subpackage of the project's plugin packages is
imported, so that its decorators register trainers, datasets and evaluators into the engine's
registries (no hand-written list of modules), and its ``extend_cfg(cfg)`` hook, where it has one,
adds its config keys. The engine knows none of this; a new trainer is a new file in ``trainers/``.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any, Iterable

PLUGIN_PACKAGES = ("datasets", "evaluation", "trainers")


def import_submodules(package: str) -> list[ModuleType]:
    """Import every public module and subpackage of ``package``, sorted by name."""
    pkg = importlib.import_module(package)
    names = sorted(info.name for info in pkgutil.iter_modules(pkg.__path__) if not info.name.startswith("_"))
    return [importlib.import_module(f"{package}.{name}") for name in names]


def load_plugins() -> list[ModuleType]:
    """Import (and so register) every trainer, dataset and evaluator module."""
    return [m for package in PLUGIN_PACKAGES for m in import_submodules(package)]


def cfg_with(modules: Iterable[ModuleType]) -> Any:
    """The engine's defaults plus the keys each of ``modules`` adds with its ``extend_cfg``."""
    from engine import get_cfg_default

    cfg = get_cfg_default()
    for module in modules:
        hook = getattr(module, "extend_cfg", None)
        if hook is not None:
            hook(cfg)
    return cfg


def default_cfg() -> Any:
    """Engine defaults plus every plugin's keys: the base that config files are merged into."""
    return cfg_with(load_plugins())
