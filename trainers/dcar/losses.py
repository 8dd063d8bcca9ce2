"""DCAR's category loss (docs/method.md §4.3-4.4): the category-matching weight and L_cate over
each image's candidates (the positive and its negatives). Computed in fp32 inside autocast."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import in_fp32

WEIGHT_MODES = ("denominator", "logit_bias", "loss_weight")


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
