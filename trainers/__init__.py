"""Trainers. ``plugins.py`` imports every module and subpackage here, which registers each
trainer in the engine's TRAINER_REGISTRY; no per-trainer import is needed anywhere."""
