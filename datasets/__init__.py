"""Datasets. Importing this package imports every module in it, which registers each dataset
in the engine's DATASET_REGISTRY; no per-dataset import is needed anywhere."""
from engine.plugins import import_submodules

MODULES = import_submodules(__name__)
