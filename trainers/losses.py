"""Training objectives (docs/method.md §4.3-4.4 and §5): L = L_con + lambda * L_cate.

Similarities and losses are computed in fp32 even inside an autocast region (autocast would
otherwise run their matmuls in bf16/fp16).
"""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

import torch
import torch.nn.functional as F

F_ = TypeVar("F_", bound=Callable[..., torch.Tensor])

WEIGHT_MODES = ("denominator", "logit_bias", "loss_weight")
CON_MODES = ("symmetric", "i2t")


def in_fp32(fn: F_) -> F_:
    """Run ``fn`` with autocast off for its first tensor's device (its inputs are cast to fp32 by it)."""
    @functools.wraps(fn)
    def wrapper(img: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        with torch.autocast(device_type=img.device.type, enabled=False):
            return fn(img, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


@in_fp32
def contrastive_loss(img: torch.Tensor, txt: torch.Tensor, scale: float | torch.Tensor,
                     not_negative: torch.Tensor | None = None, mode: str = "symmetric") -> torch.Tensor:
    """In-batch InfoNCE over B (image, caption) pairs with logit scale ``scale`` (§5; a tensor
    when the scale is learned, as in pretraining).

    ``not_negative`` [B, B] marks off-diagonal pairs that must not count as negatives (captions
    of the same image, exact duplicate captions); they are left out of the softmax.
    ``mode`` ``symmetric``: 1/2 [CE(I->T) + CE(T->I)]; ``i2t``: CE(I->T) only (a direct port of
    classification-style training).
    """
    if mode not in CON_MODES:
        raise ValueError(f"contrastive loss mode must be one of {CON_MODES}, got {mode!r}")
    img, txt = F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
    logits = scale * img @ txt.T
    if not_negative is not None:
        eye = torch.eye(len(img), dtype=torch.bool, device=img.device)
        logits = logits.masked_fill(not_negative & ~eye, float("-inf"))
    target = torch.arange(len(img), device=img.device)
    i2t = F.cross_entropy(logits, target)
    return i2t if mode == "i2t" else (i2t + F.cross_entropy(logits.T, target)) / 2


def category_weights(cand_labels: torch.Tensor, image_labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """w = 1 + alpha where a candidate's category equals the image's, else 1 (§4.3, Fig. 2)."""
    same = cand_labels == image_labels[:, None]
    return 1.0 + alpha * same.float()


@in_fp32
def category_loss(img: torch.Tensor, cands: torch.Tensor, valid: torch.Tensor, weights: torch.Tensor, scale: float,
                  mode: str = "denominator") -> torch.Tensor:
    """L_cate over each image's candidates (index 0 = the positive) (§4.4).

    * ``denominator``: -log[e^{s+/t} / (e^{s+/t} + sum_k w_k e^{s_k/t})], the positive's weight fixed at 1;
    * ``logit_bias``: cross-entropy with log w added to every candidate's logit, the positive's too;
    * ``loss_weight``: binary matching loss per (image, candidate), each term weighted by w, on
      logits centred on the image's mean candidate score.
    """
    if mode not in WEIGHT_MODES:
        raise ValueError(f"TRAINER.DCAR.CATE.WEIGHT_MODE must be one of {WEIGHT_MODES}, got {mode!r}")
    img, cands = F.normalize(img.float(), dim=-1), F.normalize(cands.float(), dim=-1)
    logits = scale * torch.einsum("bd,bcd->bc", img, cands)
    weights = weights.float()
    target = torch.zeros(len(img), dtype=torch.long, device=img.device)
    if mode == "denominator":
        bias = torch.log(weights)
        bias[:, 0] = 0.0
        return F.cross_entropy((logits + bias).masked_fill(~valid, float("-inf")), target)
    if mode == "logit_bias":
        return F.cross_entropy((logits + torch.log(weights)).masked_fill(~valid, float("-inf")), target)
    mean = (logits * valid).sum(1, keepdim=True) / valid.sum(1, keepdim=True)
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    per = F.binary_cross_entropy_with_logits(logits - mean, labels, reduction="none") * weights * valid
    return per.sum() / valid.sum()
