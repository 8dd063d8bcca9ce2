"""The project's plugin packages: importing them registers every trainer, dataset and evaluator
(no hand-written list of modules), and their ``extend_cfg`` hooks add the config keys."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from engine.plugins import cfg_with

PLUGIN_PACKAGES = ("datasets", "evaluation", "trainers")


def load_plugins() -> list[ModuleType]:
    """Import (and so register) every trainer, dataset and evaluator module."""
    return [m for package in PLUGIN_PACKAGES for m in importlib.import_module(package).MODULES]


def default_cfg() -> Any:
    """Engine defaults plus every plugin's keys: the base that config files are merged into."""
    return cfg_with(load_plugins())
