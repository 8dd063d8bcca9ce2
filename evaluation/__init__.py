"""Evaluators. Importing this package imports every module in it, which registers each
evaluator in the engine's EVALUATOR_REGISTRY."""
from engine.plugins import import_submodules

MODULES = import_submodules(__name__)
