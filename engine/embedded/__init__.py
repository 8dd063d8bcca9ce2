"""The embedded engine: the part of Dassl's API that CoOp/MaPLe-style plugins use, written for
this project (docs/engine.md). Import it through :mod:`engine`, which picks Dassl when installed."""
