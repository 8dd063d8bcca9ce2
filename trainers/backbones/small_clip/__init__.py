"""A small CLIP pretrained on a synthetic corpus: the project's embedded default backbone.

``MODEL.BACKBONE.NAME synth-small`` loads the committed checkpoint next to this file
(``synth_small.pt``); ``python -m trainers.backbones.small_clip`` rebuilds it with the recipe in
:mod:`trainers.backbones.small_clip.recipe`.
"""
import os

CHECKPOINT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "synth_small.pt")
NAME = "synth-small"
