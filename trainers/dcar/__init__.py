"""DCAR's wing (docs/method.md): everything the proposed method adds to the prompted CLIP of
``trainers/model.py``, one component per module.

=========================================  ===========================  ==========================================
component                                  where                        docs/method.md, headings
=========================================  ===========================  ==========================================
the trainer, its config keys and checks    ``trainer.py`` (``DCAR``)    "Backbone and dual prompts" to "L_con and
                                                                        the objective"; "Ablation rows"
dynamic token re-weighting (DTR)           ``dtr.py``                   "Dynamic token re-weighting"
category-aware augmentation: negatives     ``datasets/negatives.py``    "Negative captions"
L_con + lambda * L_cate: candidates, CAA,  ``objective.py``             "CAA module" to "L_cate"; "L_con and the
category-matching weight, L_cate                                        objective"
=========================================  ===========================  ==========================================

The negative captions are made when the data is loaded (so that evaluation measures every
method against the same negatives) and reach the objective as fields of each item
(``evaluation.items.RetrievalItem``). No baseline imports this package.
"""
from .trainer import DCAR, extend_cfg

__all__ = ["DCAR", "extend_cfg"]
