"""``python -m trainers.backbones.small_clip [--steps N ...]``: rebuild the synth-small checkpoint."""
from .recipe import main

main()
