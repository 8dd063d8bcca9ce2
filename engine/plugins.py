"""Registration by import: every module of a plugin package is imported (its decorators
register trainers/datasets/evaluators) and may contribute config keys via ``extend_cfg(cfg)``."""
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


def extend_cfg(cfg: Any, modules: Iterable[ModuleType]) -> None:
    """Let each module add its keys to ``cfg`` (before any config file is merged)."""
    for module in modules:
        hook = getattr(module, "extend_cfg", None)
        if hook is not None:
            hook(cfg)


def load_plugins() -> list[ModuleType]:
    """Import (and so register) every trainer, dataset and evaluator module."""
    return [m for package in PLUGIN_PACKAGES for m in importlib.import_module(package).MODULES]


def default_cfg() -> Any:
    """Engine defaults plus every plugin's keys: the base that config files are merged into."""
    from engine import get_cfg_default

    cfg = get_cfg_default()
    extend_cfg(cfg, load_plugins())
    return cfg
