"""Trainers. Importing this package imports every module in it, which registers each trainer
in the engine's TRAINER_REGISTRY; no per-trainer import is needed anywhere."""
from engine.plugins import import_submodules

MODULES = import_submodules(__name__)
