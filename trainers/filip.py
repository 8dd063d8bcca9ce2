"""FILIP (Yao et al., ICLR 2022) for retrieval: both towers of CLIP fine-tuned with L_con over
token-wise late-interaction scores, and the same scores at evaluation (docs/method.md, "FILIP").
What departs from the paper: FILIP pretrains from scratch on some 300M web pairs with a learned
temperature; here a pretrained CLIP is fine-tuned on the few shots at the budget of the other
full-model rows, with CLIP's temperature frozen (as every trainer here) and every patch and word
token kept."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine.precision import Precision
from evaluation.late_interaction import word_mask

from .base import RetrievalTrainer
from .clip_driver import assemble_text, encode_image, encode_text
from .finetune import whole_model
from .losses import late_interaction_loss
from .model import PromptedCLIP

EVAL_MODES = ("tokens", "global")


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.PREC = "amp"  # fp32 on CPU; the weights train in fp32 either way
    c.LOSS = "symmetric"  # or i2t
    c.EVAL = "tokens"  # tokens: late interaction, as trained | global: CLIP's pooled embeddings (class and end tokens)
    c.CHUNK = 64  # images x captions per block of token-wise scores (memory: CHUNK^2 x patches x tokens)
    cfg.TRAINER.FILIP = c


class LateInteractionCLIP(PromptedCLIP):
    """CLIP scored by its tokens: images as their patch tokens, captions as their word tokens (both
    through the towers' final norm and projection, as the pooled features); with ``tokens_at_test``
    False, evaluation ranks by the pooled features instead."""

    def __init__(self, clip_model: nn.Module, *, tokens_at_test: bool, **kwargs: Any) -> None:
        super().__init__(clip_model, train_clip=True, **kwargs)
        self.tokens_at_test = tokens_at_test

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens [B, P, D] (fp32; no class token)."""
        with self.precision.autocast():
            return encode_image(self.clip, images.to(self.device), patches=True).float()

    def text_tokens(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Every position's feature [B, 77, D] (fp32) and the word mask [B, 77] (start, end and
        padding left out); the whole context, so every process's batch has the same shape."""
        ids = self.tokenize(captions)
        with self.precision.autocast():
            x, eot = assemble_text(self.clip, ids, None)
            feats = encode_text(self.clip, x, eot, trim=False, all_tokens=True).float()
        return feats, word_mask(eot, feats.shape[1])

    def image_tower(self, images: torch.Tensor, prompts: Any = None) -> torch.Tensor:
        return self.image_tokens(images) if self.tokens_at_test else super().image_tower(images, prompts)

    def encode_text(self, captions: Sequence[str] | torch.Tensor, token_weights: torch.Tensor | None = None,
                    prompts: Any = None) -> torch.Tensor | list[torch.Tensor]:
        """At evaluation with ``tokens_at_test``: each caption's word tokens [n_i, D]; else the
        pooled features [B, D]."""
        if not self.tokens_at_test or isinstance(captions, torch.Tensor) or token_weights is not None:
            return super().encode_text(captions, token_weights, prompts)
        feats, mask = self.text_tokens(list(captions))
        return [f[m] for f, m in zip(feats, mask)]


@TRAINER_REGISTRY.register()
class FILIP(RetrievalTrainer):
    """Both towers train with the token-wise contrastive loss; the temperature stays CLIP's."""

    FROZEN_CLIP = False

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        c = cfg.TRAINER.FILIP
        if c.EVAL not in EVAL_MODES:
            raise ValueError(f"TRAINER.FILIP.EVAL must be one of {EVAL_MODES}, got {c.EVAL!r}")
        if c.CHUNK < 1:
            raise ValueError(f"TRAINER.FILIP.CHUNK must be at least 1, got {c.CHUNK}")

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        return whole_model(clip_model, LateInteractionCLIP(clip_model, tokens_at_test=cfg.TRAINER.FILIP.EVAL == "tokens",
                                                           precision=precision, text_trim=cfg.TRAINER.TEXT_TRIM))

    def contrastive_step(self, batch: dict, items: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Patch and word tokens of the batch, and L_con over their late-interaction scores."""
        img = self.model.image_tokens(batch["img"])
        txt, mask = self.model.text_tokens([it.caption for it in items])
        loss, _ = late_interaction_loss(img, txt, mask, items, self.model.logit_scale, self.node().LOSS,
                                        self.node().CHUNK)
        return img, txt, loss
