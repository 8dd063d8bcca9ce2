"""Datasets. ``plugins.py`` imports every module here, which registers each dataset in the
engine's DATASET_REGISTRY; no per-dataset import is needed anywhere."""
