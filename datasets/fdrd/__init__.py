"""FDRD (Fine-class Described Retrieval Dataset) and its synthetic counterpart FDRDSynth."""
from typing import Any

from . import dataset, synth
from .dataset import FDRD
from .loader import FDRDDataError, FDRDDatum
from .synth import FDRDSynth


def extend_cfg(cfg: Any) -> None:
    """``DATASET.FDRD.*`` and ``DATASET.FDRD_SYNTH.*``."""
    dataset.extend_cfg(cfg)
    synth.extend_cfg(cfg)


__all__ = ["FDRD", "FDRDSynth", "FDRDDatum", "FDRDDataError", "extend_cfg"]
