"""CLIP weights in the formats they are published in today (docs/backbones.md)."""
