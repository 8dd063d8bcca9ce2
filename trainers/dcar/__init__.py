"""DCAR's wing (docs/method.md): everything the proposed method adds to the prompted CLIP of
``trainers/model.py``, one component per module.

=========================================  ===========================  ==================
component                                  where                        docs/method.md
=========================================  ===========================  ==================
the trainer, its config keys and checks     ``trainer.py`` (``DCAR``)     §2-§5, §10
dynamic token re-weighting (DTR)           ``dtr.py``                   §3
category-aware augmentation: negatives     ``datasets/negatives.py``    §4.1
L_con + lambda * L_cate: candidates, CAA,  ``objective.py``             §4.2-4.4, §5
category-matching weight, L_cate
=========================================  ===========================  ==================

The negative captions are made when the data is loaded (so that evaluation measures every
method against the same negatives) and reach the objective as fields of each item
(``evaluation.items.RetrievalItem``). No baseline imports this package.
"""
from .trainer import DCAR, extend_cfg

__all__ = ["DCAR", "extend_cfg"]
