"""The contrastive loss L_con (docs/method.md, "L_con and the objective"), the objective of every
retrieval trainer and of the small-CLIP pretraining recipe, in-batch (:func:`contrastive_loss`) and
over the global batch under ``torchrun`` (:func:`global_contrastive_loss`); similarities and losses
are computed in fp32 even inside an autocast region (:func:`in_fp32`). DCAR's category loss is in
``trainers/dcar/objective.py``.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeVar

import torch
import torch.nn.functional as F

from engine import distributed as dist
from evaluation.late_interaction import token_scores

F_ = TypeVar("F_", bound=Callable[..., torch.Tensor])
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
    """In-batch InfoNCE over B (image, caption) pairs with logit scale ``scale`` (a tensor when the
    scale is learned, as in pretraining); docs/method.md, "L_con and the objective".

    ``not_negative`` [B, B] marks off-diagonal pairs that must not count as negatives (captions
    of the same image, exact duplicate captions); they are left out of the softmax.
    ``mode`` ``symmetric``: 1/2 [CE(I->T) + CE(T->I)]; ``i2t``: CE(I->T) only (a direct port of
    classification-style training).
    """
    img, txt = F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
    return info_nce(scale * img @ txt.T, None, not_negative, mode)


def info_nce(i2t_logits: torch.Tensor, t2i_logits: torch.Tensor | None, not_negative: torch.Tensor | None,
             mode: str, weights: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE over B pairs from the image-to-caption logits [B, B] (row i: image i against every
    caption) and the caption-to-image logits [B, B] (row j: caption j against every image; None: the
    transpose of the first, as for one cosine per pair); ``not_negative`` and ``mode`` as in
    :func:`contrastive_loss`. ``weights`` [B]: each pair's loss (the mean of its directions) is
    scaled by its weight before the mean over pairs (ALIP's adaptive loss)."""
    if mode not in CON_MODES:
        raise ValueError(f"contrastive loss mode must be one of {CON_MODES}, got {mode!r}")
    eye = torch.eye(len(i2t_logits), dtype=torch.bool, device=i2t_logits.device)
    if not_negative is not None:
        i2t_logits = i2t_logits.masked_fill(not_negative & ~eye, float("-inf"))
        if t2i_logits is not None:
            t2i_logits = t2i_logits.masked_fill(not_negative.T & ~eye, float("-inf"))
    t2i_logits = i2t_logits.T if t2i_logits is None else t2i_logits
    target = torch.arange(len(i2t_logits), device=i2t_logits.device)
    if weights is None:
        i2t = F.cross_entropy(i2t_logits, target)
        return i2t if mode == "i2t" else (i2t + F.cross_entropy(t2i_logits, target)) / 2
    per_pair = F.cross_entropy(i2t_logits, target, reduction="none")
    if mode != "i2t":
        per_pair = (per_pair + F.cross_entropy(t2i_logits, target, reduction="none")) / 2
    return (per_pair * weights).mean()


@in_fp32
def late_interaction_loss(img: torch.Tensor, txt: torch.Tensor, txt_mask: torch.Tensor, items: Sequence[Any],
                          scale: float, mode: str, chunk: int = 64) -> tuple[torch.Tensor, int]:
    """L_con over the global batch with FILIP's token-wise scores (docs/method.md, "FILIP"): patch
    tokens ``img`` [B, P, D], word tokens ``txt`` [B, L, D] with ``txt_mask`` [B, L]; the
    image-to-caption logits are the late-interaction image-to-text scores, the caption-to-image
    logits its text-to-image scores. Gathered as :func:`global_contrastive_loss`."""
    keys = dist.gather_objects([(it.impath, it.caption) for it in items])
    i2t, t2i = token_scores(dist.gather_with_grad(img.float()), dist.gather_with_grad(txt.float()),
                            dist.gather_rows(txt_mask.to(torch.uint8)).bool(), chunk)  # NCCL gathers no bool
    return info_nce(scale * i2t, scale * t2i.T, not_negative_pairs(keys, img.device), mode), len(keys)


def not_negative_pairs(keys: Sequence[tuple[str, str]], device: torch.device) -> torch.Tensor:
    """[B, B] pairs of a batch of (image path, caption) keys that must not be each other's
    negatives: same image or same caption."""
    return torch.tensor([[a[0] == b[0] or a[1] == b[1] for b in keys] for a in keys], device=device)


def global_contrastive_loss(img: torch.Tensor, txt: torch.Tensor, items: Sequence[Any], scale: float,
                            mode: str) -> tuple[torch.Tensor, int]:
    """L_con over the global batch, and that batch's size: every process's features and items
    (``impath``, ``caption``) are gathered, gradients flow to this process's own rows (so the
    caller scales the loss by the number of processes before gradients are averaged)."""
    keys = dist.gather_objects([(it.impath, it.caption) for it in items])
    loss = contrastive_loss(dist.gather_with_grad(img.float()), dist.gather_with_grad(txt.float()), scale,
                            not_negative_pairs(keys, img.device), mode)
    return loss, len(keys)
