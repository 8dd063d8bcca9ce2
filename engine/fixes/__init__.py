"""The parts of the Dassl API that are the project's own under either engine (docs/engine.md, "Faults fixed under both engines"):
Dassl's versions fail on current PyTorch or lose work. ``engine/__init__.py`` uses them with real
Dassl (the checkpoint mixin in front of Dassl's trainer classes) and with the embedded engine.

* ``checkpoint.py``: atomic saving, ``weights_only`` loading, resume with RNG state, a clear
  error for a checkpoint that does not fit the model;
* ``lr_scheduler.py``: the LR schedule with warm-up;
* ``logger.py``: the tee to ``log.txt``;
* ``registry.py``: unknown names listed with the closest match.
"""
