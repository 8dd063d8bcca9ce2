"""MaPLe for caption retrieval: coupled deep vision-language prompts trained with L_con only,
i.e. DCAR without token re-weighting and category-aware augmentation (docs/method.md §11)."""
from __future__ import annotations

from typing import Any

from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY

from .dcar import DCAR, prompt_only_settings


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.N_CTX = 2
    c.CTX_INIT = "a photo of a"  # the first N_CTX tokens initialise the context
    c.PROMPT_DEPTH = 9
    c.PREC = "amp"
    c.LOSS = "symmetric"  # or i2t: the one-directional loss of a direct port of the classification code
    cfg.TRAINER.MAPLE = c


@TRAINER_REGISTRY.register()
class MaPLe(DCAR):
    PREC_NODE = "MAPLE"

    def settings(self, cfg: Any) -> Any:
        m = cfg.TRAINER.MAPLE
        return prompt_only_settings(cfg, m.N_CTX, m.CTX_INIT, m.PROMPT_DEPTH, True, m.LOSS)
