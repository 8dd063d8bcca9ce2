"""CoOp for caption retrieval: one learnable context shared by all captions and prepended to each
(``[SOS] v_1..v_M caption [EOS]``), text side only, trained with L_con (docs/method.md, "Baselines")."""
from __future__ import annotations

from typing import Any

from torch import nn
from yacs.config import CfgNode as CN

from datasets.text import encode
from engine import TRAINER_REGISTRY
from engine.precision import Precision

from .base import RetrievalTrainer
from .model import PromptedCLIP, prompted_clip
from .prompts import prompt_learner


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.N_CTX = 16
    c.CTX_INIT = ""  # given: the context is its tokens (N_CTX is then their number), as in CoOp
    c.PREC = "amp"
    c.LOSS = "symmetric"  # or i2t
    c.CSC = False  # kept so CoOp command lines parse; class-specific context has no meaning for captions
    c.CLASS_TOKEN_POSITION = "end"  # likewise: captions have no class slot
    cfg.TRAINER.COOP = c


@TRAINER_REGISTRY.register()
class CoOp(RetrievalTrainer):
    """One context shared by all captions, at the text encoder's input (see the module doc)."""

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        c = self.node(cfg)
        if c.CSC:
            raise ValueError("TRAINER.COOP.CSC True (class-specific contexts) has no meaning for caption retrieval: "
                             "a caption is not a class. Remove it; one context shared by all captions is learned.")
        if c.CLASS_TOKEN_POSITION != "end":
            raise ValueError(f"TRAINER.COOP.CLASS_TOKEN_POSITION {c.CLASS_TOKEN_POSITION!r} has no meaning for caption "
                             "retrieval: the context is always prepended to the caption. Remove it.")

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        """The context (the tokens of ``CTX_INIT`` when given), at the input only, text side only."""
        c = cfg.TRAINER.COOP
        n_ctx = len(encode(c.CTX_INIT.replace("_", " "))) if c.CTX_INIT else c.N_CTX
        prompts = prompt_learner(cfg, cls.CONFIG_NODE, clip_model, n_ctx, 1, c.CTX_INIT, visual=False)
        return prompted_clip(cfg, clip_model, precision, prompts), {"prompt_learner": nn.ModuleDict({"prompts": prompts})}
