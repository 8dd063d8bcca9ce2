"""DCAR's objective, L = L_con + lambda * L_cate (docs/method.md, "Category-aware augmentation" to
"L_con and the objective"), as one object: the candidate set of each image (its positive caption,
category negatives, attribute negatives), the CAA module that transforms the candidates, the
category-matching weights and both losses.

The negative captions are made when the data is loaded (``datasets/negatives.py``) and reach the
objective as fields of each item (``evaluation.items.RetrievalItem``).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed as dist

from ..losses import global_contrastive_loss, in_fp32
from ..model import ResidualAdapter

CAA_TYPES = ("adapter", "attention")
WEIGHT_MODES = ("denominator", "logit_bias", "loss_weight")


class CAA(nn.Module):
    """The CAA module: a trainable transform of candidate text embeddings (docs/method.md, "CAA module"), used by L_cate
    (and by retrieval only with ``CAA.AT_TEST``).

    * ``adapter``: t~ = normalize(rho * A(t) + (1 - rho) * t), the residual bottleneck adapter;
    * ``attention``: one multi-head self-attention layer over each image's candidate set, mixed
      residually with the same ratio, so candidates contrast with each other.
    """

    def __init__(self, dim: int, kind: str = "adapter", hidden: int = 128, ratio: float = 0.2, heads: int = 4) -> None:
        super().__init__()
        self.kind, self.ratio = kind, ratio
        if kind == "adapter":
            self.adapter = ResidualAdapter(dim, hidden, ratio)
        else:
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, cands: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``cands`` [B, C, D] (unit rows) -> transformed unit rows; ``valid`` [B, C] masks padding."""
        if self.kind == "adapter":
            out = self.adapter(cands)
        else:
            pad = None if valid is None else ~valid
            mixed = self.attn(cands, cands, cands, key_padding_mask=pad, need_weights=False)[0]
            out = self.ratio * mixed + (1 - self.ratio) * cands
        return F.normalize(out, dim=-1)


class CAAHead(nn.Module):
    """CAA as a text head of the retrieval model (``CAA.AT_TEST``): each caption alone as its candidate set."""

    def __init__(self, caa: CAA) -> None:
        super().__init__()
        self.caa = caa

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.caa(F.normalize(feats, dim=-1)[:, None])[:, 0]


def category_weights(cand_labels: torch.Tensor, image_labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """w = 1 + alpha where a candidate's category equals the image's, else 1 (docs/method.md,
    "Category-matching weight"; the paper's Fig. 2)."""
    same = cand_labels == image_labels[:, None]
    return 1.0 + alpha * same.float()


@in_fp32
def category_loss(img: torch.Tensor, cands: torch.Tensor, valid: torch.Tensor, weights: torch.Tensor, scale: float,
                  mode: str = "denominator") -> torch.Tensor:
    """L_cate over each image's candidates (index 0 = the positive) (docs/method.md, "L_cate").

    * ``denominator``: -log[e^{s+/t} / (e^{s+/t} + sum_k w_k e^{s_k/t})], the positive's weight fixed at 1;
    * ``logit_bias``: cross-entropy with log w added to every candidate's logit, the positive's too;
    * ``loss_weight``: binary matching loss per (image, candidate), each term weighted by w, on
      logits centred on the image's mean candidate score.
    """
    if mode not in WEIGHT_MODES:
        raise ValueError(f"category_loss mode must be one of {WEIGHT_MODES}, got {mode!r}")
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


def candidates(pos: torch.Tensor, negs: torch.Tensor | None, items: Sequence[Any], per_item: Sequence[Sequence[str]],
               labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each image's candidate set: unit features [B, C, D] (slot 0 the positive, then ``per_item``,
    its negatives: category swaps, then attribute swaps, whose features ``negs`` holds in that
    order; zero padding), the valid slots [B, C] and each candidate's category [B, C] (an attribute
    swap keeps the image's class; a category swap is -1, another class)."""
    width = 1 + max((len(n) for n in per_item), default=0)
    device = pos.device
    cands = pos.new_zeros(len(items), width, pos.shape[-1], dtype=torch.float32)
    valid = torch.zeros(len(items), width, dtype=torch.bool, device=device)
    cand_labels = torch.full((len(items), width), -1, dtype=torch.long, device=device)
    cands[:, 0], valid[:, 0], cand_labels[:, 0] = pos.float(), True, labels
    b_idx = [b for b, n in enumerate(per_item) for _ in n]
    if b_idx:
        rows = torch.tensor(b_idx, device=device)
        cols = torch.tensor([1 + j for n in per_item for j in range(len(n))], device=device)
        keeps_class = [j >= len(it.negatives_category) for it, n in zip(items, per_item) for j in range(len(n))]
        cands[rows, cols] = negs.float()
        valid[rows, cols] = True
        cand_labels[rows, cols] = torch.where(torch.tensor(keeps_class, device=device), labels[rows], -1)
    return F.normalize(cands, dim=-1), valid, cand_labels


class DCARObjective(nn.Module):
    """L = L_con + lambda * L_cate over one step's global batch (``TRAINER.DCAR``: ``LOSS``,
    ``CATE.LAMBDA`` (0: L_con alone), ``CATE.ALPHA``, ``CATE.WEIGHT_MODE``); ``caa`` None is the identity."""

    def __init__(self, c: Any, caa: CAA | None) -> None:
        super().__init__()
        self.mode, self.lam, self.alpha, self.weight_mode = c.LOSS, c.CATE.LAMBDA, c.CATE.ALPHA, c.CATE.WEIGHT_MODE
        self.caa = caa

    def negatives(self, item: Any) -> tuple[str, ...]:
        """The negatives L_cate encodes for ``item``: category swaps, then attribute swaps (none without L_cate)."""
        return (*item.negatives_category, *item.negatives_attribute) if self.lam > 0 else ()

    def training_strings(self, items: Sequence[Any]) -> list[str]:
        """Every string a step may encode: each caption and its negatives."""
        return [s for it in items for s in (it.caption, *self.negatives(it))]

    def forward(self, img: torch.Tensor, pos: torch.Tensor, items: Sequence[Any], labels: torch.Tensor, scale: float,
                encode: Callable[[list[str]], torch.Tensor], reweighted: bool) -> tuple[torch.Tensor, float, dict[str, float]]:
        """The step's objective for backward (scaled for the average across processes), the loss
        to log and its parts. ``pos``: the positives' features (token-re-weighted when
        ``reweighted``: L_cate then encodes them again without weights); ``encode``: strings ->
        features of the prompted text encoder under this step's prompts."""
        loss_con, global_batch = global_contrastive_loss(img, pos, items, scale, self.mode)
        objective, summary = dist.scaled_for_averaging(loss_con), {"loss_con": loss_con.item()}
        if self.lam > 0:
            loss_cate = self.category_term(img, pos, items, labels, scale, encode, reweighted)
            share = len(items) * dist.world_size() / global_batch  # L_cate is per image: weight the local mean
            objective = objective + self.lam * share * loss_cate
            summary["loss_cate"] = sum(v * n for v, n in dist.per_rank((loss_cate.item(), len(items)))) / global_batch
        return objective, summary["loss_con"] + self.lam * summary.get("loss_cate", 0.0), summary

    def category_term(self, img: torch.Tensor, pos: torch.Tensor, items: Sequence[Any], labels: torch.Tensor,
                      scale: float, encode: Callable[[list[str]], torch.Tensor], reweighted: bool) -> torch.Tensor:
        """L_cate: the positive and its negatives through the prompted text encoder (weights 1),
        the CAA module, category-matching weights (docs/method.md, "CAA module" to "L_cate")."""
        negs = [self.negatives(it) for it in items]
        strings = [it.caption for it in items] if reweighted else []
        strings += [s for n in negs for s in n]
        feats = encode(strings) if strings else None
        pos_feats, neg_feats = (feats[: len(items)], feats[len(items):]) if reweighted else (pos, feats)
        cands, valid, cand_labels = candidates(pos_feats, neg_feats, items, negs, labels)
        if self.caa is not None:
            cands = self.caa(cands, valid)
        return category_loss(img, cands, valid, category_weights(cand_labels, labels, self.alpha), scale,
                             self.weight_mode)
