"""MaPLe for caption retrieval: coupled deep vision-language prompts trained with L_con only
(docs/method.md §11) -- the prompts DCAR builds on, without its token re-weighting and
category-aware augmentation."""
from __future__ import annotations

from typing import Any

from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY

from .prompted import PromptedRetrievalTrainer


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.N_CTX = 2
    c.CTX_INIT = "a photo of a"  # the first N_CTX tokens initialise the context
    c.PROMPT_DEPTH = 9
    c.PREC = "amp"
    c.LOSS = "symmetric"  # or i2t: the one-directional loss of a direct port of the classification code
    cfg.TRAINER.MAPLE = c


@TRAINER_REGISTRY.register()
class MaPLe(PromptedRetrievalTrainer):
    CONFIG_NODE = "MAPLE"
