"""DCAR's wing (docs/method.md): everything the proposed method adds to MaPLe's prompted
retrieval trainer (``trainers/prompted.py``), one component per module.

=========================================  ===========================  ==================
component                                  where                        docs/method.md
=========================================  ===========================  ==================
the trainer: L = L_con + lambda * L_cate   ``trainer.py`` (``DCAR``)     §2-§5
dynamic token re-weighting (DTR)           ``dtr.py``                   §3
category-aware augmentation: negatives     ``datasets/negatives.py``    §4.1
CAA module                                 ``caa.py``                   §4.2
category-matching weight, L_cate           ``losses.py``                §4.3-4.4
=========================================  ===========================  ==================

The negative captions are made when the data is loaded (so that evaluation measures every
method against the same negatives) and reach the trainer as fields of each item
(``evaluation.items.RetrievalItem``). No baseline imports this package.
"""
from .trainer import DCAR, extend_cfg

__all__ = ["DCAR", "extend_cfg"]
