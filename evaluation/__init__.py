"""Evaluators. ``plugins.py`` imports every module here, which registers each evaluator in the
engine's EVALUATOR_REGISTRY."""
