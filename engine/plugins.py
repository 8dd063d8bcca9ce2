"""Registration by import, for any plugin package: every module of the package is imported (its
decorators register trainers/datasets/evaluators) and may contribute config keys via
``extend_cfg(cfg)``. Which packages are the project's plugins is said outside the engine
(``plugins.py`` at the repository root)."""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any, Iterable


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


def cfg_with(modules: Iterable[ModuleType]) -> Any:
    """The engine's defaults plus the keys of ``modules``."""
    from engine import get_cfg_default

    cfg = get_cfg_default()
    extend_cfg(cfg, modules)
    return cfg
