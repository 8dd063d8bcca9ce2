"""CLIP backbones: names, weight files in the formats they are published in today, and the
model they build (docs/backbones.md). The entry point is :func:`load_clip`.

- :mod:`.names` -- the names a user types and where their weights are published;
- :mod:`.hub` -- the Hugging Face cache and downloads;
- :mod:`.files` -- reading weight files by content;
- :mod:`.convert` -- transformers/open_clip layouts and configs -> the ``clip`` package's model;
- :mod:`.loading` -- locating weights, checking them and building the model;
- :mod:`.small_clip` -- the small CLIP the project pretrains itself (``synth-small``).
"""
from typing import Any

from .convert import BackboneFormatError
from .loading import Backbone, BackboneNotFoundError, configure, from_cfg, load, load_clip, locate

__all__ = ["Backbone", "BackboneFormatError", "BackboneNotFoundError", "configure", "extend_cfg", "from_cfg", "load",
           "load_clip", "locate"]


def extend_cfg(cfg: Any) -> None:
    b = cfg.MODEL.BACKBONE
    b.CACHE_DIR = ""  # the legacy folder of OpenAI's original files ("" = $CLIP_CACHE_DIR, else ~/.cache/clip)
    b.DOWNLOAD = True  # fetch missing hub files (HF_HUB_OFFLINE=1 also turns this off)
    b.ACTIVATION = ""  # "" = the one the weights' source states; quick_gelu / gelu for a file that states none
    b.SHA256 = ""  # pins the weight file; filled in when a run starts and saved with it
    b.SOURCE = ""  # filled in when a run starts: where the weights came from
    b.SET_PIXEL_NORM = True  # INPUT.PIXEL_MEAN/STD become the weights' own image normalisation
