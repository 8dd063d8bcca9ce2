"""MaPLe for caption retrieval: coupled deep vision-language prompts trained with L_con only
(docs/method.md, "Baselines") -- the prompts DCAR builds on, without its token re-weighting and
category-aware augmentation."""
from __future__ import annotations

from typing import Any

from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine.precision import Precision

from .base import RetrievalTrainer
from .model import PromptedCLIP, prompted_clip
from .prompts import prompt_learner


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.N_CTX = 2
    c.CTX_INIT = "a photo of a"  # the first N_CTX tokens initialise the context
    c.PROMPT_DEPTH = 9
    c.PREC = "amp"
    c.LOSS = "symmetric"  # or i2t: the one-directional loss of a direct port of the classification code
    cfg.TRAINER.MAPLE = c


@TRAINER_REGISTRY.register()
class MaPLe(RetrievalTrainer):
    """Deep text prompts coupled to visual prompts (see the module doc)."""

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        """``N_CTX`` context tokens, deep text prompts to ``PROMPT_DEPTH``, visual prompts coupled to them."""
        c = cfg.TRAINER.MAPLE
        prompts = prompt_learner(cfg, cls.CONFIG_NODE, clip_model, c.N_CTX, c.PROMPT_DEPTH, c.CTX_INIT, visual=True)
        return prompted_clip(cfg, clip_model, precision, prompts), {"prompt_learner": nn.ModuleDict({"prompts": prompts})}
