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
